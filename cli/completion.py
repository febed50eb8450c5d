"""``coordkit completion``: print the shell completion script (Click's own)."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

__all__ = ["completion"]


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL; load it from the shell's startup file:

    \b
      bash: eval "$(coordkit completion bash)"          (in ~/.bashrc)
      zsh:  eval "$(coordkit completion zsh)"           (in ~/.zshrc)
      fish: coordkit completion fish > ~/.config/fish/completions/coordkit.fish

    Commands, options and choices complete; keys and service names do not (yet).
    """
    root = click.get_current_context().find_root().command
    shell_class = get_completion_class(shell)
    assert shell_class is not None  # the choices are Click's built-in shells
    script = shell_class(root, {}, "coordkit", "_COORDKIT_COMPLETE").source()
    click.echo(script)
