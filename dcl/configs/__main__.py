"""``python -m dcl.configs``: list the packaged config names."""

from dcl.configs import config_names

if __name__ == "__main__":
    print("\n".join(config_names()))
