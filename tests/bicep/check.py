"""Parses Bicep files with tree-sitter-bicep and runs the checks a parser alone misses.

Usage: check.py PATH...       check .bicep files and <name>.parameters*.json files
       check.py --dump FILE   print FILE's declarations as JSON (for tests/scaling_agreement.rs)

Checks: the file parses (no ERROR or MISSING node); every local `module` path exists; a module
call passes only parameters the module declares, and every parameter without a default; each
`<module>.outputs.<name>` is an output of that module; a `<name>.parameters*.json` file sets only
parameters `<name>.bicep` declares, and every required one. One line per problem,
`path:line:column: CODE message`, then a summary; exit 1 when there is a problem, 2 when the
checker itself cannot run. Not checked: symbols and types, resource API versions and property
names, what ARM accepts (that needs the Bicep compiler and a deployment).
"""

import json
import sys
from pathlib import Path

try:
    import tree_sitter
    import tree_sitter_bicep
except ImportError as e:
    print(f"check.py: {e}: run `bash tests/tools/setup.sh` (installs tree-sitter-bicep into .tools/bicep)", file=sys.stderr)
    sys.exit(2)

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))


def text(node):
    return node.text.decode()


def where(path, node):
    line, column = node.start_point
    return f"{path}:{line + 1}:{column + 1}"


def named(node, kind=None):
    return [c for c in node.named_children if kind is None or c.type == kind]


def string_value(node):
    """The value of a string literal without interpolation, else None."""
    if node.type != "string" or any(c.type == "interpolation" for c in node.named_children):
        return None
    escapes = {"\\'": "'", "\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t", "\\$": "$"}
    return "".join(escapes.get(text(c), text(c)) if c.type == "escape_sequence" else text(c) for c in node.named_children)


def key_name(node):
    return text(node) if node.type == "identifier" else string_value(node)


def properties(obj):
    """An object literal's properties: name -> (key node, value node)."""
    out = {}
    for prop in named(obj, "object_property"):
        key, value = prop.named_children[0], prop.named_children[-1]
        out[key_name(key)] = (key, value)
    return out


def value(node):
    """A literal as JSON; any other expression as {"$expr": source, ...} with its structure."""
    kind = node.type
    if kind == "string":
        literal = string_value(node)
        if literal is not None:
            return literal
        parts = [string_value_part(c) for c in node.named_children]
        return {"$interp": parts}
    if kind == "number":
        return int(text(node))
    if kind == "boolean":
        return text(node) == "true"
    if kind == "null":
        return None
    if kind == "object":
        return {name: value(v) for name, (_, v) in properties(node).items()}
    if kind == "array":
        return [value(c) for c in node.named_children]
    if kind == "identifier":
        return {"$id": text(node)}
    if kind == "member_expression":
        obj, prop = node.named_children[0], node.named_children[-1]
        return {"$member": [value(obj), text(prop)]}
    if kind == "parenthesized_expression":
        return value(node.named_children[0])
    # The few expressions tests evaluate (a choice between two settings, a joined list); each
    # keeps its source so an evaluator that cannot decide shows it as it is written.
    if node.has_error:
        return {"$expr": text(node)}  # reported as a syntax problem; nothing to evaluate
    if kind == "ternary_expression" and len(node.named_children) == 3:
        cond, yes, no = node.named_children
        return {"$cond": [value(cond), value(yes), value(no)], "$src": text(node)}
    if kind == "binary_expression" and len(node.named_children) == 2 and text(node.children[1]) in ("==", "!="):
        left, right = node.named_children
        return {"$eq" if text(node.children[1]) == "==" else "$ne": [value(left), value(right)], "$src": text(node)}
    if kind == "call_expression" and text(node.named_children[0]) == "concat":
        args = named(node.named_children[1])
        return {"$concat": [value(a) for a in args], "$src": text(node)}
    return {"$expr": text(node)}


def string_value_part(node):
    if node.type == "interpolation":
        return value(node.named_children[0])
    return text(node)


def body_object(decl):
    """The object of a resource or module declaration, through `if` and `for`."""
    for child in decl.named_children:
        if child.type == "object":
            return child, None
        if child.type == "if_statement":
            return named(child, "object")[0], text(child.named_children[0])
        if child.type == "for_statement":
            body = child.child_by_field_name("body")
            if body is not None and body.type == "object":
                return body, "for"
            return named(body or child, "object")[0], "for"
    return None, None


def declarations(path):
    """Parses a file: (declarations dict, syntax problems)."""
    source = path.read_bytes()
    tree = PARSER.parse(source)
    problems = []
    if tree.root_node.has_error:
        stack = [tree.root_node]
        while stack:
            node = stack.pop()
            if node.is_missing:
                problems.append(f"{where(path, node)}: SYNTAX missing {node.type!r}")
            elif node.type == "ERROR":
                snippet = text(node).strip().splitlines()[0][:40] if text(node).strip() else ""
                problems.append(f"{where(path, node)}: SYNTAX error in {snippet!r}")
            else:
                stack.extend(reversed(node.children))
        problems = problems or [f"{path}:1:1: SYNTAX the file does not parse"]
    decl = {"params": {}, "vars": {}, "resources": {}, "modules": {}, "outputs": {}, "nodes": {}}
    for node in tree.root_node.named_children:
        if node.type == "parameter_declaration":
            children = node.named_children
            name, kind = text(children[0]), children[1]
            default = children[2] if len(children) > 2 else None
            nullable = any(c.type == "nullable_type" for c in kind.named_children)
            decl["params"][name] = {
                "type": text(kind),
                "default": value(default) if default is not None else None,
                "required": default is None and not nullable,
            }
        elif node.type == "variable_declaration":
            decl["vars"][text(node.named_children[0])] = value(node.named_children[-1])
        elif node.type == "output_declaration":
            decl["outputs"][text(node.named_children[0])] = value(node.named_children[-1])
        elif node.type in ("resource_declaration", "module_declaration"):
            symbol = text(node.named_children[0])
            target = node.named_children[1]
            obj, condition = body_object(node)
            entry = {"target": string_value(target), "condition": condition, "body": value(obj) if obj else None}
            decl["resources" if node.type == "resource_declaration" else "modules"][symbol] = entry
            decl["nodes"][symbol] = (target, obj)
    return decl, problems, tree


def output_references(node, modules):
    """(module symbol, output name, node) for every `<module>.outputs.<name>` under node."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "member_expression":
            inner = n.named_children[0]
            if (
                inner.type == "member_expression"
                and inner.named_children[0].type == "identifier"
                and text(inner.named_children[0]) in modules
                and text(inner.named_children[-1]) == "outputs"
            ):
                yield text(inner.named_children[0]), text(n.named_children[-1]), n
                continue
        stack.extend(n.named_children)


def check_bicep(path, cache):
    decl, syntax, tree = cache(path)
    if syntax:
        return list(syntax)
    problems = []
    for symbol, entry in decl["modules"].items():
        target_node, obj = decl["nodes"][symbol]
        target = entry["target"]
        if target is None or ":" in target:
            continue  # a registry or template-spec reference, or an interpolated path
        module_path = path.parent / target
        if not module_path.is_file():
            problems.append(f"{where(path, target_node)}: MODULE-PATH module {symbol}: {target} does not exist")
            continue
        module, module_problems, _ = cache(module_path)
        if module_problems:
            problems.append(f"{where(path, target_node)}: MODULE-PATH module {symbol}: {target} does not parse")
            continue
        params = properties(properties(obj).get("params", (None, None))[1]) if obj and "params" in properties(obj) else {}
        for name, (key, _) in params.items():
            if name not in module["params"]:
                problems.append(f"{where(path, key)}: MODULE-PARAM module {symbol} passes {name}, which {target} does not declare")
        for name, p in module["params"].items():
            if p["required"] and name not in params:
                problems.append(f"{where(path, obj)}: MODULE-REQUIRED module {symbol} does not pass {name}, required by {target}")
    for symbol, name, node in output_references(tree.root_node, decl["modules"]):
        target = decl["modules"][symbol]["target"]
        if target is None or ":" in target or not (path.parent / target).is_file():
            continue
        module, module_problems, _ = cache(path.parent / target)
        if not module_problems and name not in module["outputs"]:
            problems.append(f"{where(path, node)}: MODULE-OUTPUT {symbol}.outputs.{name} is not an output of {target}")
    return problems


def check_parameters(path, cache):
    stem = path.name.split(".parameters")[0]
    template = path.parent / f"{stem}.bicep"
    if not template.is_file():
        return [f"{path}:1:1: PARAMS-FILE no {template.name} next to it"]
    decl, problems, _ = cache(template)
    if problems:
        return [f"{path}:1:1: PARAMS-FILE {template.name} does not parse"]
    try:
        given = json.loads(path.read_text())["parameters"]
    except (ValueError, KeyError, TypeError) as e:
        return [f"{path}:1:1: PARAMS-FILE not a deployment parameter file: {e}"]
    lines = path.read_text().splitlines()
    out = []
    for name in given:
        if name not in decl["params"]:
            line = next((i for i, l in enumerate(lines) if f'"{name}"' in l), 0)
            out.append(f"{path}:{line + 1}:1: PARAMS-FILE sets {name}, which {template.name} does not declare")
    for name, p in decl["params"].items():
        if p["required"] and name not in given:
            out.append(f"{path}:1:1: PARAMS-REQUIRED {template.name} requires {name}, which the file does not set")
    return out


def main(argv):
    parsed = {}

    def cache(path):
        key = path.resolve()
        if key not in parsed:
            parsed[key] = declarations(path)
        return parsed[key]

    if argv[:1] == ["--dump"]:
        if len(argv) != 2:
            print("usage: check.py --dump FILE.bicep", file=sys.stderr)
            return 2
        decl, problems, _ = cache(Path(argv[1]))
        if problems:
            print("\n".join(problems), file=sys.stderr)
            return 1
        decl.pop("nodes")
        print(json.dumps(decl, indent=1))
        return 0
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    problems = []
    for arg in argv:
        path = Path(arg)
        if not path.is_file():
            problems.append(f"{path}:1:1: MISSING no such file")
        elif path.suffix == ".bicep":
            problems.extend(check_bicep(path, cache))
        elif path.suffix == ".json" and ".parameters" in path.name:
            problems.extend(check_parameters(path, cache))
        else:
            print(f"check.py: {path}: neither a .bicep file nor a <name>.parameters*.json file", file=sys.stderr)
            return 2
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} Bicep error(s) in {len(argv)} file(s)")
        return 1
    print(f"{len(argv)} file(s) OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
