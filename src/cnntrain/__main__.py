"""`python -m cnntrain`, the form torchrun launches."""

from cnntrain.cli import main

if __name__ == "__main__":
    main()
