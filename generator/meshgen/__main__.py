from meshgen.entrypoint import main

main()
