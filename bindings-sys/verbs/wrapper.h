/* What bindgen reads: libibverbs' public header and the shim's declarations. */
#include <infiniband/verbs.h>
#include "shim.h"
