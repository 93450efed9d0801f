# dropout family: declarations and wrappers added by its owner.
