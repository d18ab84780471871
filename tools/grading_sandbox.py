"""The process that runs one student's submission for tools/assignment.py; it never sees a hidden test's answer.

    python -I grading_sandbox.py SETTINGS.json     (started by tools/assignment.py, one per submission)

It runs the submission's code cells (not its ``check()`` cells) with the student package as ``vitools``, each cell
under a time limit, then answers the grader's requests on a private pipe: "call the function NAME on these
arguments" (the hidden inputs, under the exercise's time limit) or "give the value NAME". It returns plain float
arrays (``numpy.save`` without pickle), so nothing a student's code returns can run in the grader. The grader
compares them with the expected outputs, which never enter this process.

Started in new mount, network and process namespaces, it first moves into a root of its own that holds only the
system folders, the Python installation and the student package, read-only (see :func:`isolate`), and then runs
as a user id of its own, with limits on processes and file sizes.
"""

import base64
import io
import json
import os
import pickle
import resource
import subprocess
import sys


def send(channel, message: dict) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def as_array(value) -> str:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(value, dtype=float), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode()


def describe(err: BaseException) -> dict:
    return {"error": type(err).__name__, "message": str(err)[:500]}


SYSTEM = ("usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32")   # what a Python process needs of /


def isolate(settings: dict) -> None:
    """Run from here on in a new root holding only the system folders, the Python installation and the working
    folder (the student package), read-only, plus a small private /tmp; then as an unprivileged user of its own.

    This process was started by ``unshare -mnpiu --fork --kill-child --mount-proc`` (new mount, network, process,
    IPC and host-name namespaces: no network, no other process in sight, and every process it starts ends with it;
    ``tools/assignment.py`` builds that command). The mounts
    below change only this namespace's view. After ``setuid`` it cannot mount, unmount or leave the new root."""
    def mount(*args):
        done = subprocess.run(["mount", *args], capture_output=True, text=True)
        if done.returncode:
            raise OSError(f"mount {' '.join(args)}: {done.stderr.strip()}")

    def bind(source, target):
        os.makedirs(target, exist_ok=True)
        mount("--bind", source, target)
        mount("-o", "remount,bind,ro,nosuid,nodev", target)

    root = os.path.join(settings["workdir"], "root")       # a tmpfs of its own: nothing of the host's /tmp in it
    os.makedirs(root)
    mount("-t", "tmpfs", "-o", "size=64m,mode=755", "none", root)
    for name in SYSTEM:
        source = os.path.join("/", name)
        if os.path.islink(source):
            os.symlink(os.readlink(source), os.path.join(root, name))
        elif os.path.isdir(source):
            bind(source, os.path.join(root, name))
    for prefix in sorted({os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}):
        if not any(prefix == f"/{name}" or prefix.startswith(f"/{name}/") for name in SYSTEM):
            bind(prefix, root + prefix)
    os.makedirs(root + "/dev")
    for device in ("null", "zero", "full", "random", "urandom"):       # only these of the host's devices
        open(f"{root}/dev/{device}", "w").close()
        mount("--bind", f"/dev/{device}", f"{root}/dev/{device}")
    os.makedirs(root + "/proc")
    mount("-t", "proc", "proc", root + "/proc")                          # this namespace's processes only
    os.makedirs(root + "/tmp/submission")
    os.chmod(root + "/tmp", 0o1777)
    bind(settings["workdir"], root + "/tmp/submission")
    os.chroot(root)
    os.chdir("/tmp")
    resource.setrlimit(resource.RLIMIT_NPROC, (16, 16))                  # per user: this sandbox's own uid
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))
    os.setgroups([])
    os.setgid(settings["uid"])
    os.setuid(settings["uid"])


def main(settings_file: str) -> None:
    settings = json.loads(open(settings_file).read())
    if settings["namespaces"]:
        try:
            isolate(settings)
        except Exception as err:   # noqa: BLE001  (the grader reports it; the instructor's setup, not the student's)
            os.write(1, (json.dumps({"setup_error": f"{type(err).__name__}: {err}"}) + "\n").encode())
            raise SystemExit(1)
        settings["package"] = os.path.join("/tmp/submission", os.path.relpath(settings["package"], settings["workdir"]))
    else:                                              # no network namespace: refuse sockets here instead
        import socket

        def refuse(*args, **kwargs):
            raise OSError("no network while grading")
        socket.socket.connect = socket.socket.connect_ex = refuse
    channel = os.fdopen(os.dup(1), "w")                # the replies; the student's prints go to /dev/null
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in repr(finder).lower()]
    sys.path.insert(0, settings["package"])
    import numpy  # noqa: F401  (the set-up's import, before any cell's clock starts)

    from vitools.exercises._core import TimeLimitExceeded, time_limit

    env = {"__name__": "__main__"}
    for i, cell in enumerate(settings["cells"]):
        send(channel, {"running": i})
        try:
            with time_limit(settings["cell_seconds"]):
                exec(compile(cell["source"], f"<cell {cell['number']}>", "exec"), env)
        except TimeLimitExceeded:
            send(channel, {"cell": i, "error": "TimeLimitExceeded",
                           "message": f"it was still running after {settings['cell_seconds']:g} s and was stopped"})
        except BaseException as err:   # noqa: B036  (a student's SystemExit or KeyboardInterrupt too)
            send(channel, {"cell": i, **describe(err)})
    send(channel, {"ready": True, "defined": {name: ("function" if callable(env[name]) else "value")
                                              for name in settings["names"] if name in env}})
    for line in sys.stdin:
        request = json.loads(line)
        name = request["name"]
        try:
            if request["kind"] == "repr":
                send(channel, {"repr": repr(env.get(name, "(not defined)"))[:2000]})
                continue
            with time_limit(request["seconds"]):
                if request["kind"] == "call":
                    out = env[name](*pickle.loads(base64.b64decode(request["args"])))
                else:
                    out = env[name]
            if out is None or out is Ellipsis:
                send(channel, {"nothing": True})
            else:
                send(channel, {"value": as_array(out)})
        except TimeLimitExceeded:
            send(channel, {"timeout": True})
        except BaseException as err:   # noqa: B036
            send(channel, describe(err))


if __name__ == "__main__":
    main(sys.argv[1])
