# act family (csrc/act.c): declarations and wrappers added by its owner.
