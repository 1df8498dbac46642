"""Run one meshgen command in this process; print its wall time and peak memory as JSON."""

from __future__ import annotations

import json
import os
import resource
import sys
import time


def main() -> None:
    cwd, *argv = sys.argv[1:]
    os.chdir(cwd)
    from meshgen.entrypoint import main as meshgen_main  # what the meshgen executable runs

    sys.argv = ["meshgen", *argv]
    started = time.perf_counter()
    code = 0
    stdout = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the command's own output is not measured
    try:
        meshgen_main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.stdout.close()
        sys.stdout = stdout
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"exit": code, "seconds": seconds, "peak_mib": peak_kib / 1024}))


if __name__ == "__main__":
    main()
