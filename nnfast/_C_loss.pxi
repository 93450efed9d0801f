# loss family (csrc/loss.c): declarations and wrappers added by its owner.
