"""A file that fails to read whoever reads it, root included (CI runs as root, which reads any
file whatever its permissions): Linux's /proc/self/mem is a regular file whose first bytes give
EIO. It reaches the same OSError branch as a permission error."""

import os

UNREADABLE = "/proc/self/mem"
HAS_UNREADABLE = os.path.isfile(UNREADABLE)
NO_UNREADABLE = "needs Linux's /proc/self/mem, a file that fails to read for every user"
