"""`python -m runner`: the Hydra app (see runner.app)."""
from runner.app import main

if __name__ == "__main__":
    main()
