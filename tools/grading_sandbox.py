"""The process that runs one student's submission for tools/assignment.py; it never sees a hidden test.

    python -I grading_sandbox.py SETTINGS.json     (started by tools/assignment.py, one per submission)

It runs the submission's code cells (not its ``check()`` cells) with the student package as ``vitools``, each cell
under a time limit, then answers the grader's requests on a private pipe: "call the function NAME on these
arguments" (the hidden inputs, under the exercise's time limit) or "give the value NAME". It returns plain float
arrays (``numpy.save`` without pickle), so nothing a student's code returns can run in the grader. The grader
compares them with the expected outputs, which never enter this process.

Started in new mount and network namespaces (``unshare -mn``), it first mounts empty file systems over the
folders it must not read: the autograder (hidden tests, solutions), the submissions and the instructor's vitools.
"""

import base64
import io
import json
import os
import pickle
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


def main(settings_file: str) -> None:
    settings = json.loads(open(settings_file).read())
    for folder in settings["hide"]:                    # in our own mount namespace: the rest of the machine is unchanged
        if settings["namespaces"] and os.path.isdir(folder):
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "none", folder], check=True)
    if not settings["namespaces"]:                     # no network namespace: refuse sockets here instead
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
                           "message": f"still running after {settings['cell_seconds']:g} s, so it was stopped"})
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
