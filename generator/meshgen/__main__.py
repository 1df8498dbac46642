import sys

try:
    from meshgen.entrypoint import main
except KeyboardInterrupt:  # before meshgen's handlers exist; nothing was read or written
    sys.stderr.write("error: interrupted (SIGINT); the repository is as it was\n")
    sys.exit(130)

main()
