"""Every documented ansible-playbook command, and every command a role's message suggests, gives each extra variable
whole: nothing is cut at a space.

ansible-playbook reads ``-e key=value`` with parse_kv after the shell removed its quotes, so
``-e reason='INC-4711: 1.1.0 corrupts orders'`` records only ``INC-4711:`` (the rest lands in ``_raw_params``). A
value with spaces survives only when it is quoted for Ansible too (``-e "reason='INC-4711: ...'"``) or given as
JSON (``-e '{"reason": "INC-4711: ..."}'``).

The commands come from README.md and docs/*.md (fenced code blocks and inline code), and from the YAML files in
playbooks/ and roles/ (comments, and strings such as refusal messages). Each is split as a POSIX shell would
(shlex), its options are read by ansible-playbook's own parser, and each extra-vars value is loaded by
ansible.utils.vars.load_extra_vars, the function ansible-playbook uses. A placeholder (``<why>``, ``...``) stands
for what an engineer will type, so it is replaced by words with spaces first.
"""
import contextlib
import io
import pathlib
import re
import shlex

import pytest
import yaml
from ansible.cli.playbook import PlaybookCLI
from ansible.parsing.dataloader import DataLoader
from ansible.utils import vars as ansible_vars

PROJECT = pathlib.Path(__file__).resolve().parents[2]
DOCS = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
YAML_FILES = sorted(p for d in ("playbooks", "roles") for p in (PROJECT / d).rglob("*.yml"))

# Commands in files this change could not edit, cut today: strict xfail until they are fixed, then remove the entry.
PENDING = {}  # (file, variable): why a documented command is known to be cut, until it is fixed

PLACEHOLDER = re.compile(r"<[^<>\s][^<>]*>|\.\.\.|\u2026")
MARK = "opsready_placeholder"  # a placeholder while the text is split into words
TYPED = "what an engineer types"  # then its stand-in, with spaces
JINJA = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}", re.S)
COMMAND = re.compile(r"\bansible-playbook\s+\S")
# One -e argument as it is written: shell words glued together (quoted strings and unquoted characters).
EXTRA_VARS_ARG = re.compile(r"(?<![\w-])(?:-e|--extra-vars)(?:\s+|=)((?:'[^']*'|\"(?:[^\"\\]|\\.)*\"|[^\s'\"`])+)")
# An extra-vars value, shell quotes removed: key=value, YAML/JSON, or @file. Anything else (`[ -e "$1" ]`) is not.
EXTRA_VARS_VALUE = re.compile(r"[A-Za-z_]\w*=|[{\[@]")
KEY = re.compile(r"([A-Za-z_]\w*)=(.*)", re.S)


def relative(path):
    return str(path.relative_to(PROJECT))


def marked(text):
    """Each placeholder as one word (<a time inside the window> is one value, whatever its spaces)."""
    return PLACEHOLDER.sub(MARK, text)


def typed(word):
    """A word as an engineer types it: placeholders filled with words that have spaces."""
    return word.replace(MARK, TYPED)


def join_continuations(lines):
    """(line number, line) with backslash-newline continuations joined, as the shell reads them."""
    joined, start, buffer = [], None, ""
    for number, line in lines:
        if start is None:
            start = number
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        joined.append((start, buffer + line))
        start, buffer = None, ""
    if start is not None:
        joined.append((start, buffer))
    return joined


def command_argv(text):
    """The words after ansible-playbook in a command line (shell comments and quotes removed)."""
    text = text[COMMAND.search(text).start():]
    # `[-e key=value]` in a usage line marks an optional argument: read it as the argument.
    text = re.sub(r"\[((?:-e|--extra-vars)\s+[^\]\s]+)\]", r"\1", text)
    return [typed(word) for word in shlex.split(marked(text), comments=True)[1:]]


def suggested_values(text):
    """The values of the `-e value` arguments inside prose or a message, as the shell passes them."""
    values = []
    for match in EXTRA_VARS_ARG.finditer(marked(text)):
        # Prose punctuation after the closing quote: "(with -e '{...}')." suggests -e '{...}'.
        argument = re.sub(r"(?<=['\"])[).,;:]+$", "", match.group(1))
        try:
            words = shlex.split(argument)
        except ValueError:
            continue
        if len(words) == 1 and EXTRA_VARS_VALUE.match(words[0]):
            values.append(typed(words[0]))
    return values


def fragment_argvs(text):
    """`-e value` arguments inside prose or a message, each as argv with a playbook (ansible-playbook needs one)."""
    return [["-e", value, "playbook.yml"] for value in suggested_values(text)]


def markdown_commands(path):
    """(line, argv) for every ansible-playbook command in fenced code and inline code, and every inline `-e ...`."""
    text = path.read_text()
    found, prose, fence = [], [], None
    code = []
    for number, line in enumerate(text.splitlines(), 1):
        marker = re.match(r"\s*(`{3,}|~{3,})", line)
        if fence is None and marker:
            fence = marker.group(1)
            prose.append("")
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            else:
                code.append((number, line))
            prose.append("")
            continue
        prose.append(line)
    for number, line in join_continuations(code):
        if COMMAND.search(line):
            found.append((number, command_argv(line)))
    prose = "\n".join(prose)
    for match in re.finditer(r"(`+)(.+?)\1", prose, re.S):
        span = match.group(2)
        if "\n\n" in span:
            continue
        number = prose.count("\n", 0, match.start()) + 1
        span = " ".join(span.split())
        if COMMAND.search(span):
            found.append((number, command_argv(span)))
        elif re.match(r"(-e|--extra-vars)\b", span):
            found.extend((number, argv) for argv in fragment_argvs(span))
    return found


def scalars(node):
    """(line, text) of every string in a YAML node tree."""
    if isinstance(node, yaml.ScalarNode):
        if isinstance(node.value, str):
            yield node.start_mark.line + 1, node.value
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from scalars(key)
            yield from scalars(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from scalars(item)


def yaml_commands(path):
    """(line, argv) for the commands in a YAML file's comments, and the -e arguments its strings suggest.
    A suggestion written inside a Jinja expression cannot be read as typed: it is reported as a problem (a str)."""
    found = []
    lines = path.read_text().splitlines()
    comments = [(n, re.sub(r"^\s*#+ ?", "", line)) for n, line in enumerate(lines, 1) if re.match(r"\s*#", line)]
    for number, comment in join_continuations(comments):
        if COMMAND.search(comment):
            found.append((number, command_argv(comment)))
        else:
            found.extend((number, argv) for argv in fragment_argvs(comment))
    for number, text in scalars(yaml.compose(path.read_text())):
        inside = [value for expression in JINJA.finditer(text) for value in suggested_values(expression.group(0))]
        if inside:
            named = [KEY.match(value).group(1) + "=..." if KEY.match(value) else value for value in inside]
            found.append((number, "a suggested -e is inside a Jinja expression: write the command as text (-e %s)"
                          % ", -e ".join(named)))
        # A message built with Jinja: an expression stands for a name (or a value) without spaces.
        filled = JINJA.sub(lambda m: "jinja_value" if m.group(0).startswith("{{") else "", text)
        found.extend((number, argv) for argv in fragment_argvs(filled))
    return found


def all_commands():
    return ([(relative(p), n, argv) for p in DOCS for n, argv in markdown_commands(p)]
            + [(relative(p), n, argv) for p in YAML_FILES for n, argv in yaml_commands(p)])


def parse_options(argv):
    """ansible-playbook's own option parser: the -e/--extra-vars values in the order given."""
    cli = PlaybookCLI(["ansible-playbook", *argv])
    cli.init_parser()
    with contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            options = cli.parser.parse_args(argv)
        except SystemExit:
            raise ValueError("ansible-playbook refuses the command: %s" % err.getvalue().strip().splitlines()[-1])
    return options.extra_vars or []


def load_extra_vars(value, monkeypatch):
    """What ansible-playbook makes of one -e value (load_extra_vars caches its result on itself: not here)."""
    with monkeypatch.context() as patch:
        patch.setattr(ansible_vars.context, "CLIARGS", {"extra_vars": (value,)})
        patch.setattr(ansible_vars.load_extra_vars, "extra_vars", None, raising=False)
        return dict(ansible_vars.load_extra_vars(DataLoader()))


def meant(value):
    """The variables the text says: each key= takes the text up to the next key= (shell quotes already removed,
    quotes for Ansible removed here)."""
    variables, key = {}, None
    for word in shlex.split(value):
        match = KEY.fullmatch(word)
        if match:
            key = match.group(1)
            variables[key] = match.group(2)
        elif key is None:
            variables.setdefault("_raw_params", []).append(word)
        else:
            variables[key] += " " + word
    return variables


def problems(argv, monkeypatch):
    """What ansible-playbook would cut or leave over in the command's extra variables."""
    if isinstance(argv, str):
        return [argv]
    found = []
    try:
        values = parse_options(argv)
    except ValueError as refused:
        return [str(refused)]
    for value in values:
        if value.startswith("@"):
            continue  # a file: YAML, read whole
        loaded = load_extra_vars(value, monkeypatch)
        if "_raw_params" in loaded:
            found.append("-e %s: %r is left over as _raw_params" % (shlex.quote(value), loaded["_raw_params"]))
        if value[0] not in "{[":
            for key, text in meant(value).items():
                if key != "_raw_params" and loaded.get(key) != text:
                    found.append("-e %s: %s is %r, not %r" % (shlex.quote(value), key, loaded.get(key), text))
    return found


COMMANDS = all_commands()


def params():
    found = []
    for path, number, argv in COMMANDS:
        text = argv if isinstance(argv, str) else " ".join(argv)
        reasons = [reason for (where, key), reason in PENDING.items()
                   if where == path and re.search(r"\b%s=" % key, text)]
        marks = [pytest.mark.xfail(strict=True, reason=reasons[0])] if reasons else []
        found.append(pytest.param(argv, id="%s:%d" % (path, number), marks=marks))
    return found


@pytest.mark.parametrize("argv", params())
def test_every_documented_command_keeps_its_extra_variables_whole(argv, monkeypatch):
    assert problems(argv, monkeypatch) == []


def test_the_commands_are_found():
    where = {(path, number) for path, number, argv in COMMANDS}
    expected = {"README.md", "docs/rollback.md", "docs/health_check.md", "docs/maintenance_window.md", "docs/lab.md",
                "docs/awx.md", "docs/deploy.md", "playbooks/rollback.yml", "playbooks/maintenance_window.yml",
                "playbooks/deploy.yml", "roles/change_window/tasks/main.yml"}
    assert {path for path, number in where} >= expected
    with_extra_vars = [argv for path, number, argv in COMMANDS if re.search(r"(^| )(-e|--extra-vars)", " ".join(argv))]
    assert len(COMMANDS) >= 25 and len(with_extra_vars) >= 15, (len(COMMANDS), len(with_extra_vars))


@pytest.mark.parametrize("command", [
    "ansible-playbook playbooks/rollback.yml -e rollback_override_reason='INC-4711: 1.1.0 corrupts orders'",
    "ansible-playbook playbooks/rollback.yml -e rollback_override_reason=<why>",
    "ansible-playbook playbooks/rollback.yml -e rollback_override_reason='...'",
    "ansible-playbook playbooks/rollback.yml -e 'a=1 b=two words'",
])
def test_a_value_cut_at_a_space_is_found(command, monkeypatch):
    assert problems(command_argv(command), monkeypatch)


@pytest.mark.parametrize("command", [
    "ansible-playbook playbooks/rollback.yml -e \"rollback_override_reason='INC-4711: 1.1.0 corrupts orders'\"",
    "ansible-playbook playbooks/rollback.yml -e '{\"rollback_override_reason\": \"<ticket>: <why>\"}'",
    "ansible-playbook playbooks/rollback.yml --extra-vars='rollback_version=1.0.0 rollback_hosts=app2'",
    "ansible-playbook playbooks/rollback.yml -e @reason.yml  # a file is read whole",
])
def test_a_value_quoted_for_ansible_or_given_as_json_is_whole(command, monkeypatch):
    assert problems(command_argv(command), monkeypatch) == []


def test_a_suggestion_built_inside_a_jinja_expression_is_refused(tmp_path):
    messages = tmp_path / "messages.yml"
    messages.write_text("""
- name: Built in Jinja, cannot be read as typed
  ansible.builtin.fail:
    msg: "{{ 'Give it with -e rollback_restore_from=<its path on ' ~ host ~ '>' if refused else '' }}"
- name: Jinja around the text is fine, and so is a filter on a suggestion
  ansible.builtin.fail:
    msg: >-
      {% if refused %}Give it with -e '{"rollback_restore_from": "<its path on {{ host }}>"}'.{% endif %}
      {{ error | replace(" -e '", newline ~ "-e '") }}
""")
    assert [(number, argv) for number, argv in yaml_commands(messages) if isinstance(argv, str)] == [
        (4, "a suggested -e is inside a Jinja expression: write the command as text (-e rollback_restore_from=...)")]
    assert [argv for number, argv in yaml_commands(messages) if not isinstance(argv, str)] == [
        ["-e", '{"rollback_restore_from": "%s"}' % TYPED, "playbook.yml"]]


def test_a_message_suggesting_a_command_is_checked_with_its_jinja_filled_in(monkeypatch):
    message = ("Refusing to start: outside. To start anyway, give the reason with -e {{ variable }}='...' "
               "(it is recorded in the evidence). Test: [ -e \"$1\" ]")
    argvs = fragment_argvs(JINJA.sub("jinja_value", message))
    assert argvs == [["-e", "jinja_value=%s" % TYPED, "playbook.yml"]]
    assert problems(argvs[0], monkeypatch)
