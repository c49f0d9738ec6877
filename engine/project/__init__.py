"""Which rule project a command works on, when it is not told.

One order for every command: the folder given (--rules), else the project of the store's
latest classification run (the store remembers its folder and rule-set hash, see
classify/apply.py), else `rules` in the current folder, else the shipped default rules.
A remembered folder that is gone is skipped, and said so; one whose rules changed since is
used, and said so.
"""

from guanxi.engine.project.choice import Choice, Remembered, choose_project, remembered

__all__ = ["Choice", "Remembered", "choose_project", "remembered"]
