"""The `hearth` command (placeholder until the CLI lands)."""


def main() -> None:
    """Entry point."""
