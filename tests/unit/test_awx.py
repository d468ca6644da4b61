"""The AWX job templates and schedules (awx/) are what awx/configure.yml would send, and AWX would take them.

No AWX runs here. The checks are the ones that would reject them at import:
- the parameters configure.yml renders for each template and schedule (Ansible's own templating) against the
  argument specs of the installed awx.awx modules, read from the modules themselves;
- the surveys against the rules AWX's survey_spec endpoint applies (JobTemplateSurveySpec._validate_spec_data);
- the schedule's rrule against the rules AWX's schedule serializer applies, then parsed by dateutil as AWX does;
and ours: one template per playbook, survey questions that set real role options of a matching type, secrets as
password questions, and a weekly schedule that lands inside the change window the inventory declares.
The bypass secret's blank answer is followed from launch to the role: what AWX's UI sends, what its launch endpoint
refuses, the job's extra vars, and the secret the role then gives maintenance_mode (a real ansible-playbook run).
"""
import datetime
import importlib
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible_collections.opsready.runbooks.plugins.module_utils._change_window import decide
from dateutil import rrule as dateutil_rrule

PROJECT = pathlib.Path(__file__).resolve().parents[2]
AWX = PROJECT / "awx"
DATA = yaml.safe_load((AWX / "job_templates.yml").read_text())
TEMPLATES = DATA["awx_job_templates"]
SCHEDULES = DATA["awx_schedules"]
SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                "integer": int, "float": float}


class _Captured(Exception):
    def __init__(self, argument_spec):
        super().__init__("captured")
        self.argument_spec = argument_spec


def awx_argspec(monkeypatch, name):
    """The argument spec an awx.awx module builds in its main(), plus the controller login options."""
    module = importlib.import_module("ansible_collections.awx.awx.plugins.modules." + name)
    api = importlib.import_module("ansible_collections.awx.awx.plugins.module_utils.controller_api")

    def capture(argument_spec=None, **kwargs):
        raise _Captured(argument_spec)

    monkeypatch.setattr(module, "ControllerAPIModule", capture)
    with pytest.raises(_Captured) as captured:
        module.main()
    return dict(api.ControllerModule.AUTH_ARGSPEC, **captured.value.argument_spec)


def rendered(module, items, **extra):
    """Each loop item's parameters for `module`, as configure.yml's task templates them."""
    loader = DataLoader()
    play = loader.load_from_file(str(AWX / "configure.yml"), trusted_as_template=True)[0]
    variables = dict(play["vars"], awx_project="platform runbooks", awx_inventory="production",
                     awx_credentials=["production ssh"], **extra)
    variables.update(loader.load_from_file(str(AWX / "job_templates.yml"), trusted_as_template=True))
    (task,) = [task for task in play["tasks"] if module in task]
    assert task["loop"] == "{{ %s }}" % items
    return [Templar(loader=loader, variables=dict(variables, item=item)).template(task[module])
            for item in variables[items]]


def survey_errors(survey):
    """What AWX's survey_spec endpoint would refuse (awx/api/views JobTemplateSurveySpec._validate_spec_data)."""
    errors = []
    for field, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(survey.get(field), kind):
            errors.append("survey %s must be a %s" % (field, kind.__name__))
    if errors or not survey["spec"]:
        return errors or ["the survey has no questions"]
    seen = set()
    for idx, question in enumerate(survey["spec"]):
        for field in ("type", "question_name", "variable", "required"):
            if not isinstance(question.get(field), bool if field == "required" else str):
                errors.append("question %d: %s missing or of the wrong type" % (idx, field))
        if errors:
            continue
        if question["variable"] in seen:
            errors.append("question %d: variable %s duplicated" % (idx, question["variable"]))
        seen.add(question["variable"])
        qtype = question["type"]
        if qtype not in SURVEY_TYPES:
            errors.append("question %d: type %s is not an AWX question type" % (idx, qtype))
            continue
        default = question.get("default", "")
        if default != "" and not isinstance(default, SURVEY_TYPES[qtype]):
            errors.append("question %d: default %r is not a %s" % (idx, default, qtype))
        for key in ("min", "max"):
            if question.get(key) is not None and not isinstance(question[key], int):
                errors.append("question %d: %s must be an integer" % (idx, key))
        if qtype in ("multiplechoice", "multiselect"):
            choices = question.get("choices")
            if not choices:
                errors.append("question %d: %s needs choices" % (idx, qtype))
                continue
            defaults = default.splitlines() if isinstance(default, str) else default
            if qtype == "multiplechoice" and len(defaults) > 1:
                errors.append("question %d: a multiple choice has one default" % idx)
            if any(choice not in choices for choice in defaults):
                errors.append("question %d: default %r is not one of the choices" % (idx, default))
        if isinstance(default, str) and default.startswith("$encrypted$"):
            errors.append("question %d: $encrypted$ is reserved" % idx)
    return errors


def rrule_errors(value):
    """What AWX's schedule serializer would refuse (SchedulePreviewSerializer.validate_rrule), then dateutil."""
    errors = []
    dtstarts = re.findall(r"DTSTART(;[^:]+)?:[0-9]+T[0-9]+Z?", value)
    if len(dtstarts) != 1:
        errors.append("exactly one DTSTART")
    if re.search(r"DTSTART:[0-9]+T[0-9]+ ", value):
        errors.append("DTSTART must name its time zone")
    rules = re.findall(r"RRULE:\S*", value)
    if not rules:
        errors.append("at least one RRULE")
    if re.search(r"(EX|R)DATE:", value, re.I):
        errors.append("no EXDATE or RDATE")
    for rule in rules:
        if "INTERVAL" not in rule.upper():
            errors.append("INTERVAL required: " + rule)
        if "SECONDLY" in rule.upper() or re.match(r".*?BYDAY[:=][0-9]+[a-zA-Z]{2}", rule):
            errors.append("unsupported: " + rule)
        if "COUNT" in rule and "UNTIL" in rule:
            errors.append("COUNT and UNTIL: " + rule)
    try:
        dateutil_rrule.rrulestr(value, forceset=True)
    except ValueError as e:
        errors.append("dateutil: %s" % e)
    return errors


def role_options(playbook):
    """The options (meta/argument_specs.yml) of the collection roles a playbook runs."""
    options = {}
    for play in yaml.safe_load((PROJECT / playbook).read_text()):
        entries = [(role["role"] if isinstance(role, dict) else role, "main") for role in play.get("roles", [])]
        entries += [(task["ansible.builtin.include_role"]["name"], task["ansible.builtin.include_role"].get("tasks_from", "main"))
                    for task in play.get("tasks", []) if "ansible.builtin.include_role" in task]
        for name, entry in entries:
            specs = yaml.safe_load((PROJECT / "roles" / name.split(".")[-1] / "meta" / "argument_specs.yml").read_text())
            options.update(specs["argument_specs"][entry]["options"])
    return options


def by_name(template):
    return template["name"]


def test_one_job_template_per_playbook():
    playbooks = sorted("playbooks/" + path.name for path in (PROJECT / "playbooks").glob("*.yml"))
    assert sorted(template["playbook"] for template in TEMPLATES) == playbooks
    assert len({template["name"] for template in TEMPLATES}) == len(TEMPLATES)


@pytest.mark.parametrize("params", rendered("awx.awx.job_template", "awx_job_templates"), ids=by_name)
def test_job_templates_are_what_the_module_takes(monkeypatch, params):
    result = ArgumentSpecValidator(awx_argspec(monkeypatch, "job_template")).validate(params)
    assert not result.error_messages
    assert params["survey_enabled"] is True and params["survey_spec"]
    assert params["ask_job_type_on_launch"] is True      # "check" at launch is the dry run
    assert "execution_environment" not in params         # left empty: omitted, the organization's default
    assert "extra_vars" not in params                    # no evidence directory given: the template's are left alone
    assert params["credentials"] == ["production ssh"] and params["project"] == "platform runbooks"


@pytest.mark.parametrize("params", rendered("awx.awx.job_template", "awx_job_templates",
                                            awx_evidence_dir="/srv/opsready/evidence"), ids=by_name)
def test_an_evidence_directory_goes_to_every_template_for_every_runbook(monkeypatch, params):
    """awx_evidence_dir: the templates' extra_vars set opsready_evidence_dir, an option of every runbook role."""
    result = ArgumentSpecValidator(awx_argspec(monkeypatch, "job_template")).validate(params)
    assert not result.error_messages
    assert params["extra_vars"] == {"opsready_evidence_dir": "/srv/opsready/evidence"}
    assert role_options(params["playbook"])["opsready_evidence_dir"]["type"] == "str"


@pytest.mark.parametrize("params", rendered("awx.awx.schedule", "awx_schedules"), ids=by_name)
def test_schedules_are_what_the_module_takes(monkeypatch, params):
    result = ArgumentSpecValidator(awx_argspec(monkeypatch, "schedule")).validate(params)
    assert not result.error_messages
    assert params["unified_job_template"] in {template["name"] for template in TEMPLATES}


@pytest.mark.parametrize("template", TEMPLATES, ids=by_name)
def test_surveys_pass_awx_rules(template):
    assert survey_errors(template["survey_spec"]) == []


@pytest.mark.parametrize("question, error", [
    ({"type": "text", "question_name": "Q", "variable": "v"}, "required missing"),
    ({"type": "boolean", "question_name": "Q", "variable": "v", "required": True}, "not an AWX question type"),
    ({"type": "integer", "question_name": "Q", "variable": "v", "required": True, "default": "1"}, "not a integer"),
    ({"type": "multiplechoice", "question_name": "Q", "variable": "v", "required": True}, "needs choices"),
    ({"type": "multiplechoice", "question_name": "Q", "variable": "v", "required": True, "choices": ["a"],
      "default": "b"}, "not one of the choices"),
    ({"type": "password", "question_name": "Q", "variable": "v", "required": False, "default": "$encrypted$"},
     "reserved"),
    ({"type": "text", "question_name": "Q", "variable": "v", "required": False, "min": "1"}, "min must be an integer"),
])
def test_survey_rules_refuse_what_awx_refuses(question, error):
    errors = survey_errors({"name": "s", "description": "", "spec": [question]})
    assert len(errors) == 1 and error in errors[0]
    assert "duplicated" in survey_errors({"name": "s", "description": "", "spec": [
        {"type": "text", "question_name": "Q", "variable": "v", "required": False}] * 2})[0]


@pytest.mark.parametrize("template", TEMPLATES, ids=by_name)
def test_survey_questions_set_role_options_of_their_type(template):
    options = role_options(template["playbook"])
    for question in template["survey_spec"]["spec"]:
        option = options.get(question["variable"])
        assert option, "%s: %s is not an option of the playbook's roles" % (template["name"], question["variable"])
        kind = option.get("type", "str")
        secret = option.get("no_log", False)
        assert (question["type"] == "password") == secret, "secrets are password questions, and only secrets"
        if kind == "bool":
            assert question["type"] == "multiplechoice" and set(question["choices"]) == {"true", "false"}
        elif kind in ("int", "float"):
            assert question["type"] in (("integer",) if kind == "int" else ("integer", "float"))
        else:   # a list or dict option cannot be asked: AWX passes a text answer as a string
            assert kind == "str", "%s: %s is a %s option; a survey answer is a string" % (
                template["name"], question["variable"], kind)
            assert question["type"] in ("text", "textarea", "password", "multiplechoice")
        if question["type"] == "multiplechoice" and option.get("choices"):
            assert set(question["choices"]) <= set(option["choices"])
        if "default" in question:   # what AWX would pass is a value the role accepts
            spec = {question["variable"]: {key: value for key, value in option.items()
                                           if key in ("type", "choices", "elements", "no_log")}}
            result = ArgumentSpecValidator(spec).validate({question["variable"]: question["default"]})
            assert not result.error_messages


@pytest.mark.parametrize("template", TEMPLATES, ids=by_name)
def test_a_blank_answer_sent_anyway_means_the_role_default(template):
    """AWX's UI leaves a blank answer out (the inventory's value, else the role's default). A client that sends the
    blank anyway (the API) must get the role's default too, or be refused at launch (the bypass secret's minimum)."""
    options = role_options(template["playbook"])
    for question in template["survey_spec"]["spec"]:
        if question["required"] or question["type"] not in ("text", "textarea", "password"):
            continue
        if launch_errors(question, {question["variable"]: ""}):
            continue   # refused at launch: the blank never reaches the role
        assert options[question["variable"]].get("default") == "", "%s: a blank %s would not mean the default" % (
            template["name"], question["variable"])


def test_the_bypass_secret_question_matches_the_module():
    """Optional, no default, the module's own limits: a blank is left out (the inventory's secret), a short answer
    is refused at launch, whatever AWX client sent it."""
    question = bypass_secret_question()
    assert question["type"] == "password" and "default" not in question and question["required"] is False
    assert (question["min"], question["max"]) == (16, 128)   # the module's own limits (_maintenance.SECRET_RE)


def bypass_secret_question():
    (template,) = [template for template in TEMPLATES if template["playbook"] == "playbooks/maintenance_window.yml"]
    (question,) = [q for q in template["survey_spec"]["spec"] if q["variable"] == "maintenance_window_secret"]
    return question


def ui_answers(answers):
    """What AWX's UI sends for the answers typed: an empty answer is left out (awx/ui getSurveyValues)."""
    return {variable: value for variable, value in answers.items() if value != ""}


def launch_errors(question, data):
    """What AWX's launch endpoint refuses in `data` for one question (SurveyJobTemplateMixin._survey_element_validation,
    for the question types our surveys use)."""
    variable = question["variable"]
    if variable not in data:
        return ["'%s' value missing" % variable] if question["required"] else []
    value = data[variable]
    if question["type"] in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return ["Value %s for '%s' expected to be a string." % (value, variable)]
        if question.get("min") not in ("", None) and len(value) < int(question["min"]):
            return ["'%s' value is too small (length is %d must be at least %s)." % (variable, len(value),
                                                                                     question["min"])]
        if question.get("max") not in ("", None) and len(value) > int(question["max"]):
            return ["'%s' value is too large (must be no more than %s)." % (variable, question["max"])]
    elif question["type"] == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or not (
                question.get("min", value) <= value <= question.get("max", value)):
            return ["'%s' value %r is not an integer in range" % (variable, value)]
    elif question["type"] == "multiplechoice" and value not in question["choices"]:
        return ["Value %s for '%s' expected to be one of %s." % (value, variable, question["choices"])]
    return []


def awx_launch(template, data):
    """(errors, the job's extra vars) of a launch sending `data`, over the survey's defaults (the UI fills them in,
    a scheduled job gets them): AWX refuses it on any survey error; otherwise the job has the template's extra_vars,
    then the defaults, then the answers (_update_unified_job_kwargs)."""
    questions = template["survey_spec"]["spec"]
    answers = dict({q["variable"]: q["default"] for q in questions if "default" in q}, **data)
    errors = [error for question in questions for error in launch_errors(question, answers)]
    if errors:
        return errors, None
    return [], dict(template.get("extra_vars", {}), **answers)


def role_secret(tmp_path, extra_vars):
    """The secret maintenance_mode gets on an app host whose inventory holds one, with the job's extra vars: the
    role's own expression (tasks/batch.yml), through a real ansible-playbook run. None: omitted, no bypass."""
    (task,) = [task for task in yaml.safe_load((PROJECT / "roles/maintenance_window/tasks/batch.yml").read_text())
               if "opsready.runbooks.maintenance_mode" in task]
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"app": {
        "hosts": {"app1": {"ansible_connection": "local"}}, "vars": {"maintenance_window_secret": INVENTORY_SECRET}}}))
    (tmp_path / "extra_vars.json").write_text(json.dumps(extra_vars))
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{"hosts": "app", "gather_facts": False, "tasks": [
        {"ansible.builtin.set_stats": {"data": {"secret": task["opsready.runbooks.maintenance_mode"]["secret"]},
                                       "per_host": False}}]}]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_HOME=str(PROJECT / ".ansible"),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_SHOW_CUSTOM_STATS="1")
    run = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "hosts.yml",
                          "-e", "@extra_vars.json", "play.yml"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return json.loads(run.stdout)["global_custom_stats"].get("secret")


INVENTORY_SECRET = "vaulted-inventory-secret-0123"
TYPED_SECRET = "typed-for-this-window-4567"


@pytest.mark.parametrize("data, secret", [
    pytest.param(ui_answers({"maintenance_window_secret": ""}), INVENTORY_SECRET, id="the UI, left blank"),
    pytest.param(SCHEDULES[0]["extra_data"], INVENTORY_SECRET, id="the weekly schedule"),
    pytest.param(ui_answers({"maintenance_window_secret": TYPED_SECRET}), TYPED_SECRET, id="the UI, typed"),
])
def test_a_blank_bypass_secret_keeps_the_inventory_secret(tmp_path, data, secret):
    """The one behaviour: a blank answer means the inventory's (vaulted) secret; never no bypass."""
    (template,) = [template for template in TEMPLATES if template["playbook"] == "playbooks/maintenance_window.yml"]
    errors, extra_vars = awx_launch(template, data)
    assert errors == []
    assert role_secret(tmp_path, extra_vars) == secret


@pytest.mark.parametrize("answer", ["", None, "too-short"], ids=["empty", "null", "short"])
def test_a_blank_sent_anyway_is_refused_at_launch(answer):
    """A client that sends the blank (the API, awx.awx.job_launch, an AWX UI that does not leave it out) gets the
    launch refused, instead of a job whose empty secret would silently mean no bypass."""
    (template,) = [template for template in TEMPLATES if template["playbook"] == "playbooks/maintenance_window.yml"]
    errors, extra_vars = awx_launch(template, {"maintenance_window_secret": answer})
    assert extra_vars is None and len(errors) == 1 and "'maintenance_window_secret'" in errors[0]


def test_without_the_minimum_a_blank_sent_would_mean_no_bypass(tmp_path):
    """Why the minimum stays: the empty answer would reach the role, which reads it as no bypass."""
    question = dict(bypass_secret_question(), min=0)
    assert launch_errors(question, {"maintenance_window_secret": ""}) == []
    assert role_secret(tmp_path, {"maintenance_window_secret": ""}) is None


@pytest.mark.parametrize("schedule", SCHEDULES, ids=by_name)
def test_schedules_pass_awx_rules_and_answer_the_survey(schedule):
    assert rrule_errors(schedule["rrule"]) == []
    (template,) = [template for template in TEMPLATES if template["name"] == schedule["unified_job_template"]]
    questions = {question["variable"]: question for question in template["survey_spec"]["spec"]}
    assert set(schedule.get("extra_data", {})) <= set(questions), "AWX ignores extra_data outside the survey"
    unanswered = [var for var, q in questions.items()
                  if q["required"] and "default" not in q and var not in schedule.get("extra_data", {})]
    assert unanswered == [], "a schedule cannot prompt: required questions need a default or an answer"


@pytest.mark.parametrize("rrule, error", [
    ("RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=WE", "exactly one DTSTART"),
    ("DTSTART:20261125T160500 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=WE", "time zone"),
    ("DTSTART;TZID=UTC:20261125T160500 RRULE:FREQ=WEEKLY;BYDAY=WE", "INTERVAL required"),
    ("DTSTART;TZID=UTC:20261125T160500 RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=1WE", "unsupported"),
    pytest.param("DTSTART;TZID=UTC:20261125T160500 RRULE:FREQ=WEEKLY;INTERVAL=1;COUNT=3;UNTIL=20270101T000000Z",
                 "COUNT and UNTIL", marks=pytest.mark.filterwarnings("ignore:Using both 'count' and 'until'")),
    ("DTSTART;TZID=UTC:20261125T160500 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=XX", "dateutil"),
])
def test_rrule_rules_refuse_what_awx_refuses(rrule, error):
    assert any(error in message for message in rrule_errors(rrule))


def test_the_weekly_schedule_runs_inside_the_change_window():
    """The next runs, as AWX computes them from the rrule, all fall inside the lab inventory's weekly window."""
    (schedule,) = [s for s in SCHEDULES if s["unified_job_template"] == "opsready: maintenance window"]
    windows = yaml.safe_load((PROJECT / "inventories/lab/group_vars/app.yml").read_text())["maintenance_window_windows"]
    runs = dateutil_rrule.rrulestr(schedule["rrule"], forceset=True)
    after = datetime.datetime(2026, 11, 22, tzinfo=datetime.timezone.utc)
    upcoming = [runs.after(after)]
    while len(upcoming) < 8:
        upcoming.append(runs.after(upcoming[-1]))
    assert [run.weekday() for run in upcoming] == [2] * 8 and upcoming[1] - upcoming[0] == datetime.timedelta(days=7)
    assert all(decide(windows, [], run)["allowed"] for run in upcoming), upcoming


def test_the_configure_playbook_passes_syntax_check():
    bin_dir = pathlib.Path(sys.executable).parent
    run = subprocess.run([str(bin_dir / "ansible-playbook"), "--syntax-check", str(AWX / "configure.yml")],
                         cwd=PROJECT, capture_output=True, text=True, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr
