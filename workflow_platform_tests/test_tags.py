"""Tag names are spelled once, in workflow_platform/tags.py: no other module writes a tag key as a literal."""

import ast
from pathlib import Path

import workflow_platform

PACKAGE = Path(workflow_platform.__file__).parent


def _tags_target(node: ast.AST) -> bool:
    """`tags` or `<anything>.tags`."""
    return (isinstance(node, ast.Name) and node.id == "tags") or (isinstance(node, ast.Attribute)
                                                                    and node.attr == "tags")


def _literal(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def literal_tag_keys(source: str) -> list[str]:
    """Tag keys written as literals: `tags={"k": ...}`, `tags["k"]`, `x.tags.get("k")`, `X_TAG = "k"`, and any
    "workflow_platform/..." string."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == "tags":
            found += [key.value for d in ast.walk(node.value) if isinstance(d, ast.Dict) for key in d.keys
                      if _literal(key)]
        elif isinstance(node, ast.Assign) and _literal(node.value) and any(
                isinstance(t, ast.Name) and t.id.endswith("_TAG") for t in node.targets):
            found.append(node.value.value)
        elif isinstance(node, ast.Subscript) and _tags_target(node.value) and _literal(node.slice):
            found.append(node.slice.value)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and _tags_target(node.func.value) and node.args and _literal(node.args[0])):
            found.append(node.args[0].value)
        elif _literal(node) and node.value.startswith("workflow_platform/"):
            found.append(node.value)
    return found


def test_tag_keys_are_named_only_in_the_tags_module():
    spelled = {str(path.relative_to(PACKAGE)): keys for path in sorted(PACKAGE.rglob("*.py"))
               if path.name != "tags.py" and (keys := literal_tag_keys(path.read_text()))}
    assert spelled == {}
