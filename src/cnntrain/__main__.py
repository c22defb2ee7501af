"""`python -m cnntrain`, the form torchrun launches."""

from cnntrain.cli.app import main

if __name__ == "__main__":
    main()
