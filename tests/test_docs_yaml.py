"""Every YAML snippet of the README, put into a copy of the default project in the file it
belongs to, validates: no error and no warning the default project does not have.

Where a snippet goes: a line or a first line commented with a file name (`# tiers.yaml`,
`# branches/长沙分行.yaml`) goes there; otherwise each top-level key goes to the default
project's file that has it (`measures:` to tiers.yaml), and an indented piece (`  - name: …`,
`  mobile_no: …`) into the place of the default project that holds the same key or the same
named item, else into the list the text names; scenarios into a test file of their own.
`...` stands for lines left out."""

from __future__ import annotations

import copy
import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from guanxi.engine.defaults import default_rules_path
from guanxi.engine.ruleset.load import validate_project

README = Path(__file__).parent.parent / "README.md"
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.DOTALL | re.MULTILINE)
FILE_COMMENT = re.compile(r"#\s*([\w./\u4e00-\u9fff-]+\.yaml)\s*$")
# An indented piece whose key or item is not in the default project: the list it extends.
NEW_ITEMS = {
    "balance_change_30d": ("tiers.yaml", ["measures"]),
    "mobile_no": ("schema.yaml", ["fields"]),
}
GUANXI_YAML = {"shadow", "retention", "rules"}  # settings the default project leaves out
Tree = Any
YAML_1_2 = YAML(typ="safe", pure=True)  # as guanxi reads: `on: sale` is the key 'on', not true
YAML_1_2.allow_unicode = True


def load(text: str) -> Tree:
    return YAML_1_2.load(text)


def dump(tree: Tree) -> str:
    out = io.StringIO()
    YAML_1_2.dump(tree, out)
    return out.getvalue()


def snippets() -> list[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    return [(text[: m.start()].count("\n") + 2, m[1]) for m in BLOCK.finditer(text)]


def by_file(snippet: str) -> dict[str | None, str]:
    """The snippet's lines by the file a comment names (None: where its keys say)."""
    lines = [line for line in snippet.splitlines() if line.strip() != "..."]
    first = FILE_COMMENT.search(lines[0]) if lines[0].lstrip().startswith("#") else None
    if first:
        return {first[1]: "\n".join(lines[1:])}
    parts: dict[str | None, list[str]] = {}
    for line in lines:
        named = FILE_COMMENT.search(line)
        parts.setdefault(named[1] if named else None, []).append(line)
    return {name: "\n".join(part) for name, part in parts.items()}


def dedented(text: str) -> str:
    indent = min(len(line) - len(line.lstrip()) for line in text.splitlines() if line.strip())
    return "\n".join(line[indent:] for line in text.splitlines())


def item_key(item: Tree) -> str | None:
    if isinstance(item, dict):
        for key in ("id", "name"):
            if isinstance(item.get(key), str):
                return str(item[key])
    return None


def find(tree: Tree, wanted: str, path: list[Any]) -> list[Any] | None:
    """The path to the dict holding key `wanted` or the list holding an item named so."""
    if isinstance(tree, dict):
        if wanted in tree and path:
            return path
        for key, value in tree.items():
            found = find(value, wanted, [*path, key])
            if found is not None:
                return found
    elif isinstance(tree, list) and any(item_key(item) == wanted for item in tree):
        return path  # not inside the items: a scenario's expect: is no place for a rule
    return None


def merged(into: Tree, piece: Tree) -> Tree:
    """`piece` over `into`: mappings key by key, named list items by id or name."""
    if isinstance(into, dict) and isinstance(piece, dict):
        return {**into, **{k: merged(into.get(k), v) for k, v in piece.items()}}
    if isinstance(into, list) and isinstance(piece, list) and all(map(item_key, piece)):
        result = list(into)
        for item in piece:
            at = [i for i, old in enumerate(result) if item_key(old) == item_key(item)]
            if at:
                result[at[0]] = merged(result[at[0]], item)
            else:
                result.append(item)
        return result
    return piece


class Project:
    """The YAML files of a rule project, by their path in it."""

    def __init__(self, files: dict[str, Tree]) -> None:
        self.files = copy.deepcopy(files)

    @classmethod
    def read(cls, root: Path) -> Project:
        paths = sorted(root.rglob("*.yaml"))
        return cls({str(p.relative_to(root)): load(p.read_text(encoding="utf-8")) for p in paths})

    def put(self, snippet: str) -> None:
        for name, text in by_file(snippet).items():
            piece = load(dedented(text))
            if name is not None:
                self.files[name] = merged(self.files.get(name), piece)
            elif isinstance(piece, dict) and "scenarios" in piece:  # a scenario file of its own
                self.files["tests/readme.yaml"] = piece
            elif text[:1] == " " and isinstance(piece, dict):  # fields or items of one place
                self.put_at(next(iter(piece)), piece)
            elif isinstance(piece, list):
                for item in piece:
                    self.put_at(str(item_key(item)), [item])
            else:
                for key, value in piece.items():
                    self.put_at(key, {key: value})

    def put_at(self, wanted: str, piece: Tree) -> None:
        """Into the file and place holding `wanted` (a top-level key first)."""
        tops = [name for name, tree in self.files.items() if wanted in (tree or {})]
        tops += ["guanxi.yaml"] if wanted in GUANXI_YAML else []
        if tops and not isinstance(piece, list):
            self.files[tops[0]] = merged(self.files[tops[0]], piece)
            return
        for name, tree in self.files.items():
            path = find(tree, wanted, [])
            if path is not None:
                self.files[name] = merged(tree, nested(path, piece))
                return
        name, path = NEW_ITEMS[wanted]  # a new item: where the text says it goes
        self.files[name] = merged(self.files[name], nested(path, piece))

    def write(self, root: Path) -> None:
        for name, tree in self.files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dump(tree), encoding="utf-8")


def nested(path: list[Any], piece: Tree) -> Tree:
    for key in reversed(path):
        piece = {key: piece}
    return piece


def flat(tree: Tree, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], str]:
    """Every value by its path, a named list item's path by its id or name."""
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in flat(value, (*path, key)).items()}
    if isinstance(tree, list) and tree and all(map(item_key, tree)):
        return {k: v for item in tree for k, v in flat(item, (*path, item_key(item))).items()}
    return {path: repr(tree)}


def changes(base: Project, snippet: str) -> dict[tuple[Any, ...], str]:
    project = Project(base.files)
    project.put(snippet)
    before = flat(base.files)
    return {k: v for k, v in flat(project.files).items() if before.get(k) != v}


def packs(base: Project) -> list[list[tuple[int, str]]]:
    """The snippets in as few projects as can hold them: none sets what another one of its
    project sets otherwise (each validation of a project costs about two seconds)."""
    found: list[tuple[list[tuple[int, str]], dict[tuple[Any, ...], str]]] = []
    for line, snippet in snippets():
        change = changes(base, snippet)
        for pack, settled in found:
            if all(settled.get(k, v) == v for k, v in change.items()):
                pack.append((line, snippet))
                settled.update(change)
                break
        else:
            found.append(([(line, snippet)], change))
    return [pack for pack, _ in found]


def problems(folder: Path) -> set[str]:
    result = validate_project(folder, shown="rules")
    return {f"{d.severity} {d.file} {d.code}: {d.message}" for d in result.diagnostics}


DEFAULT = Project.read(default_rules_path())
PACKS = packs(DEFAULT)


def test_the_readme_has_the_snippets() -> None:
    assert sum(map(len, PACKS)) >= 15


@pytest.fixture(scope="module")
def default_problems(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    return problems(written([], tmp_path_factory.mktemp("default")))


def written(pack: list[tuple[int, str]], where: Path) -> Path:
    """A copy of the default project with the snippets in, written by the same YAML writer
    as the default's own copy, so that only the snippets differ."""
    folder = where / "rules"
    shutil.copytree(default_rules_path(), folder, ignore=shutil.ignore_patterns("*.py"))
    project = Project(DEFAULT.files)
    for _line, snippet in pack:
        project.put(snippet)
    project.write(folder)
    return folder


@pytest.mark.parametrize("pack", PACKS, ids=[",".join(str(n) for n, _ in p) for p in PACKS])
def test_the_snippets_validate_in_the_default_project(
    pack: list[tuple[int, str]], tmp_path: Path, default_problems: set[str]
) -> None:
    found = problems(written(pack, tmp_path)) - default_problems
    if found and len(pack) > 1:  # which snippet: each alone
        for line, snippet in pack:
            alone = problems(written([(line, snippet)], tmp_path / str(line))) - default_problems
            assert sorted(alone) == [], f"README.md:{line}\n{snippet}"
    assert sorted(found) == [], [line for line, _ in pack]
