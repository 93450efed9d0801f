"""What nnfast.save / nnfast.load do to stay safe with files other tools and people hand them.

Writing: the target is the file a path resolves to (symlinks are written through, as open()
and torch.save do); the bytes go to a temporary in the target's folder, are fsynced and
renamed over it, with the target's mode bits (a new file: 0666 less the umask, as open()).
Unlike writing in place, the rename gives the file a new inode: hard links to the old one
keep the old bytes, and the owner becomes the saving user. Temporaries are named
`.nnfast-<host>-<pid>-<random>.tmp`, so the next save to a folder can remove those whose
writer is dead (same host, pid gone) or that have not been touched for STALE_SECONDS.

Reading: a file is hostile until checked. Every zip member read is charged to a Budget
derived from the file's byte count before anything is inflated or allocated (stored members
must lie inside the file; deflated ones may inflate to at most max(INFLATE_FLOOR,
INFLATE_RATIO x the file's size) all together); .npy headers are held against their member's
size; nesting is bounded by MAX_DEPTH. Every problem is a CorruptFileError: a ValueError
(and a pickle.UnpicklingError, which is what torch.load raises for a bad file).

Not here: the formats themselves (nnfast/io.py, nnfast/_io_torch.py).
"""
import hashlib
import os
import pickle
import re
import secrets
import socket
import time

import numpy as np

# Any file may inflate to this much; beyond it, INFLATE_RATIO times its own size. nnfast
# stores arrays uncompressed (ratio 1), so only files deflated elsewhere come near it.
INFLATE_FLOOR = 64 << 20
INFLATE_RATIO = 64
DEFLATE_MAX_RATIO = 1032        # the most deflate can compress (258-byte matches, 2 bits each)
MAX_DEPTH = 256                 # nesting levels of containers in a file's structure
STALE_SECONDS = 600             # a temporary untouched this long belongs to a dead save
READ_CHUNK = 1 << 20            # small: ZipExtFile.read copies each chunk twice

HOST = hashlib.blake2s(socket.gethostname().encode(), digest_size=4).hexdigest()
_TEMP = re.compile(r"\.nnfast-(?:([0-9a-f]{8})-(\d+)-)?[\w-]+\.tmp\Z")


class CorruptFileError(ValueError, pickle.UnpicklingError):
    """A file that is malformed, truncated, forged or too big for what it holds."""


def file_label(f):
    """How errors name f: its path, or '<file object>'."""
    if hasattr(f, "read") or hasattr(f, "write"):
        name = getattr(f, "name", None)
        return name if isinstance(name, str) else "<file object>"
    return os.fspath(f)


# ----------------------------------------------------------------------------- writing
def temp_name():
    return f".nnfast-{HOST}-{os.getpid()}-{secrets.token_hex(4)}.tmp"


def _pid_alive(pid):
    if os.name == "nt":      # os.kill(pid, 0) would terminate it there: trust the age rule
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:      # EPERM: it exists, owned by someone else
        return True
    return True


def remove_stale_temps(folder, now=None):
    """Remove the temporaries of saves into folder that died: same host and pid gone, or
    untouched for STALE_SECONDS. Best effort: a folder we cannot list is left alone."""
    now = time.time() if now is None else now
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for e in entries:
        m = _TEMP.match(e.name)
        if m is None:
            continue
        try:
            st = e.stat(follow_symlinks=False)
            dead = m.group(1) == HOST and int(m.group(2)) != os.getpid() \
                and not _pid_alive(int(m.group(2)))
            if dead or now - st.st_mtime > STALE_SECONDS:
                os.unlink(e.path)
        except OSError:
            pass          # gone already, or not ours to remove


def existing_mode(path):
    """The mode bits of the file at path, or None when there is none."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return None


def write_atomically(path, write):
    """Call write(fileobj) on a temporary next to the file path resolves to, then rename it
    over that file. On any failure (KeyboardInterrupt included) the temporary is removed and
    the old file is untouched."""
    target = os.path.realpath(path)          # through symlinks, as open(path, "wb") writes
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    remove_stale_temps(folder)
    mode = existing_mode(target)
    tmp = os.path.join(folder, temp_name())
    # 0666 less the umask, applied by the kernel, as open() gives a new file (asking for the
    # umask means setting it, which races with other threads)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            if mode is not None:       # the replaced file's mode, not the default
                os.chmod(tmp, mode)
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:                                      # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# ----------------------------------------------------------------------------- reading
def source_size(source):
    """The byte count of a path or a seekable binary file object."""
    if isinstance(source, str):
        return os.stat(source).st_size
    pos = source.tell()
    end = source.seek(0, os.SEEK_END)
    source.seek(pos)
    return end


class Budget:
    """How many bytes a file may make us inflate and allocate, all members together."""

    def __init__(self, file_bytes):
        self.file_bytes = file_bytes
        self.limit = max(INFLATE_FLOOR, INFLATE_RATIO * file_bytes)
        self.used = 0

    def take(self, nbytes, what):
        if self.used + nbytes > self.limit:
            raise CorruptFileError(
                f"{what} needs {nbytes} bytes, past the {self.limit} bytes nnfast.load "
                f"inflates and allocates for a file of {self.file_bytes} bytes (max("
                "INFLATE_FLOOR, INFLATE_RATIO x its size), in nnfast._io_checks: raise them "
                "only for a file you trust)")
        self.used += nbytes

    def check_member(self, info):
        """Refuse a zip member whose data lies outside the file or would inflate past the
        budget, before reading any of it; charge what it inflates to."""
        name = info.filename
        if info.header_offset + info.compress_size > self.file_bytes:
            raise CorruptFileError(f"member {name} claims {info.compress_size} bytes at offset "
                                   f"{info.header_offset} of a {self.file_bytes}-byte file")
        if info.compress_type == 0:               # stored
            if info.file_size != info.compress_size:
                raise CorruptFileError(f"stored member {name} has size {info.file_size} but "
                                       f"{info.compress_size} bytes of data")
        elif info.file_size > DEFLATE_MAX_RATIO * max(info.compress_size, 1) + 1024:
            raise CorruptFileError(f"member {name} would inflate {info.compress_size} bytes to "
                                   f"{info.file_size}, more than any compression gives")
        self.take(info.file_size, f"member {name} (to inflate)")


def read_member(z, info, budget):
    """A zip member's bytes, after the budget allowed them."""
    budget.check_member(info)
    with z.open(info) as f:
        data = f.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise CorruptFileError(f"member {info.filename} holds {len(data)} bytes, not the "
                               f"{info.file_size} its header says")
    return data


def read_into(f, arr, what):
    """Fill arr (contiguous) with exactly its byte count from f, in bounded chunks."""
    flat = (arr.T if arr.flags.f_contiguous and not arr.flags.c_contiguous else arr)
    flat = flat.reshape(-1).view(np.uint8)
    pos, n = 0, flat.shape[0]
    while pos < n:
        chunk = f.read(min(READ_CHUNK, n - pos))
        if not chunk:
            raise CorruptFileError(f"{what} ends after {pos} of its {n} bytes")
        flat[pos:pos + len(chunk)] = np.frombuffer(chunk, np.uint8)
        pos += len(chunk)


_JSON_ESCAPE = re.compile(rb"\\.", re.S)      # linear: no backtracking, unlike a string regex
_NOT_QUOTE_OR_BRACKET = bytes(c for c in range(256) if c not in b'"[]{}')
_BRACKET_STEP = np.zeros(256, np.int64)
_BRACKET_STEP[list(b"[{")] = 1
_BRACKET_STEP[list(b"]}")] = -1


def json_depth(raw, chunk=1 << 20):
    """The deepest bracket nesting in JSON bytes, brackets inside strings not counted: in
    linear time and bounded memory, without recursing (json.loads would, into a
    RecursionError)."""
    marks = _JSON_ESCAPE.sub(b"", raw).translate(None, _NOT_QUOTE_OR_BRACKET)
    depth = best = 0
    in_string = 0
    for start in range(0, len(marks), chunk):
        c = np.frombuffer(marks, np.uint8, min(chunk, len(marks) - start), start)
        inside = (np.cumsum(c == ord('"')) + in_string) % 2 == 1
        level = np.cumsum(np.where(inside, 0, _BRACKET_STEP[c])) + depth
        best, depth, in_string = max(best, int(level.max())), int(level[-1]), int(inside[-1])
    return best


def check_depth(obj, what="the file's structure"):
    """Refuse containers nested deeper than MAX_DEPTH (walked without recursion; a
    container met twice, as in a cycle, is walked once)."""
    seen = set()
    todo = [(obj, 1)]
    while todo:
        x, d = todo.pop()
        if not isinstance(x, (list, tuple, dict, set, frozenset)) or id(x) in seen:
            continue
        if d > MAX_DEPTH:
            raise CorruptFileError(f"{what} is nested more than {MAX_DEPTH} levels deep")
        seen.add(id(x))
        items = list(x.keys()) + list(x.values()) if isinstance(x, dict) else x
        todo.extend((v, d + 1) for v in items)
