# optim family (csrc/optim.c): declarations and wrappers added by its owner.
