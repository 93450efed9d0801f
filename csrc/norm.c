/* norm.c — placeholder until its owner lands it. */
#include "nnfast.h"
