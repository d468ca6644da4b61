"""What the documentation shows works as shown: every module's EXAMPLES against the module's own argument spec (and
health_check's checks against its check validation, JMESPath included), every markup of the plugins' docs as
ansible-doc reads it, and the JSON expectation examples in the module doc and in docs/health_check.md."""
import copy
import importlib
import pathlib
import re

import pytest
import yaml
from ansible.cli.doc import DocCLI
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.opsready.runbooks.plugins.action import evidence as evidence_action
from ansible_collections.opsready.runbooks.plugins.module_utils import _health as health
from ansible_collections.opsready.runbooks.plugins.modules import health_check

PROJECT = pathlib.Path(__file__).resolve().parents[3]
MODULES = sorted(path.stem for path in (PROJECT / "plugins" / "modules").glob("*.py") if path.stem != "__init__")
DOC_RE = re.compile(r'^DOCUMENTATION = r?"""(.*?)^"""', re.S | re.M)
PLUGINS = sorted(str(path.relative_to(PROJECT)) for path in (PROJECT / "plugins").glob("*/*.py")
                 if DOC_RE.search(path.read_text()))
SPEC_KEYS = ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")


class Captured(Exception):
    pass


def module_spec(name, monkeypatch):
    """The argument spec (and its constraints) main() gives AnsibleModule; the action plugin's for an action-only
    module (evidence)."""
    if name == "evidence":
        return {"argument_spec": evidence_action.ARGUMENT_SPEC}
    module = importlib.import_module("ansible_collections.opsready.runbooks.plugins.modules." + name)

    def capture(**kwargs):
        raise Captured(kwargs)
    monkeypatch.setattr(module, "AnsibleModule", capture)
    with pytest.raises(Captured) as captured:
        module.main()
    return captured.value.args[0]


def example_tasks(name):
    module = importlib.import_module("ansible_collections.opsready.runbooks.plugins.modules." + name)
    fqcn = "opsready.runbooks." + name
    found = []

    def walk(tasks):
        for task in tasks or []:
            for key in ("block", "rescue", "always"):
                walk(task.get(key))
            if fqcn in task:
                found.append((task.get("name", "?"), task[fqcn]))
    walk(yaml.safe_load(module.EXAMPLES))
    return found


EXAMPLES = [(name, title, args) for name in MODULES for title, args in example_tasks(name)]


def test_every_module_has_examples_of_itself():
    assert sorted({name for name, dummy, dummy2 in EXAMPLES}) == MODULES


def validated(spec, args):
    result = ArgumentSpecValidator(spec["argument_spec"], **{k: spec[k] for k in SPEC_KEYS if k in spec}).validate(
        copy.deepcopy(args))
    return result.validated_parameters, [str(error) for error in result.errors]


@pytest.mark.parametrize("name, title, args", EXAMPLES, ids=["%s: %s" % (name, title) for name, title, dummy in EXAMPLES])
def test_every_example_is_valid_for_its_module(monkeypatch, name, title, args):
    """Unknown options, wrong types, missing required ones, choices: what Ansible would refuse at run time."""
    params, errors = validated(module_spec(name, monkeypatch), args)
    assert errors == []
    if name == "health_check":
        # and what health_check itself refuses, check by check (a JMESPath expression that does not compile, ...)
        health.check_settings(params)
        problems = {c["name"]: c["problem"] for c in health.prepare(params["checks"], params["thresholds"],
                                                                    params["timeout"]) if "problem" in c}
        assert problems == {}


def markups(text):
    """(macro, content) for every C(), V(), O() and RV() as ansible-doc reads them: C() ends at the first ')',
    the semantic ones take '\\)' escapes."""
    found = [("C", match.group(1)) for match in DocCLI._CONST.finditer(text)]
    for macro in ("V", "O", "RV"):
        pattern = re.compile(r"\b" + macro + DocCLI._SEM_PARAMETER_STRING)
        found += [(macro, DocCLI._UNESCAPE.sub(r"\1", match.group(1))) for match in pattern.finditer(text)]
    return found


def unbalanced(content):
    """What ansible-doc would cut: brackets that do not close in the content, or an odd number of double quotes."""
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for char in re.sub(r'"[^"]*"', "", content) if content.count('"') % 2 == 0 else content:
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return True
    return bool(stack) or content.count('"') % 2 == 1


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


@pytest.mark.parametrize("path", PLUGINS)
def test_no_markup_is_cut_short_where_ansible_doc_reads_it(path):
    """C() cannot hold a ')': C({"length(workers) > 1": true}) shows as {"length(workers. Use V() with '\\)'."""
    documentation = yaml.safe_load(DOC_RE.search((PROJECT / path).read_text()).group(1))
    cut = [("%s(%s)" % found) for line in strings(documentation) for found in markups(line)
           if unbalanced(found[1])]
    assert cut == []


def check_json(expectations):
    """An http check with these JSON expectations, through the argument spec and health_check's validation."""
    params, errors = validated({"argument_spec": health_check.argument_spec()},
                               {"checks": [{"name": "api", "http": {"url": "http://127.0.0.1/health",
                                                                    "json": expectations}}]})
    assert errors == []
    (prepared,) = health.prepare(params["checks"], params["thresholds"], params["timeout"])
    assert "problem" not in prepared, prepared["problem"]
    return prepared


def test_the_json_expectation_example_of_the_module_doc_is_a_valid_check():
    """The example as ansible-doc shows it: a dict of JMESPath expressions, each compiling."""
    doc = yaml.safe_load(health_check.DOCUMENTATION)
    described = doc["options"]["checks"]["suboptions"]["http"]["suboptions"]["json"]["description"]
    (line,) = [text for text in described if text.startswith("Example:")]
    (example,) = [content for macro, content in markups(line)]
    expectations = yaml.safe_load(example)
    assert isinstance(expectations, dict) and "length(workers) > `1`" in expectations
    check_json(expectations)


def test_the_json_expectation_example_of_docs_health_check_md_is_a_valid_check():
    """Markdown does not escape a backtick inside `code`: such an example needs a ``double`` code span."""
    from markdown_it import MarkdownIt
    tokens = MarkdownIt().parse((PROJECT / "docs" / "health_check.md").read_text())
    spans = [child.content for token in tokens for child in token.children or [] if child.type == "code_inline"]
    examples = [span for span in spans if "length(" in span]
    assert examples, "no JSON expectation example found"
    for example in examples:
        check_json(yaml.safe_load(example))


def test_no_code_span_in_the_docs_ends_in_a_backslash():
    """`a \\` b` is the code span `a \\`, not `a ` b`: Markdown takes backslashes in code literally."""
    from markdown_it import MarkdownIt
    parser = MarkdownIt()
    broken = []
    for path in sorted(PROJECT.glob("docs/*.md")) + [PROJECT / "README.md"]:
        for token in parser.parse(path.read_text()):
            broken += ["%s: `%s`" % (path.name, child.content) for child in token.children or []
                       if child.type == "code_inline" and child.content.endswith("\\")]
    assert broken == []
