"""Generated models print as their data (from generator/templates): field values, no ``Unset``
objects, no ``additional_properties=`` wrapper, readable in IPython / Jupyter."""

from __future__ import annotations

import inspect

import pytest
from IPython.lib.pretty import pretty

from kei_agent._generated import models
from kei_agent._generated.types import UNSET, ModelMapping, Unset

STEP = {
    "step_id": "plan-1.1",
    "index": 1,
    "description": "Collect the figures",
    "action": "collect",
    "parameters": {"quarter": "Q3"},
    "depends_on": [],
}
PLAN = {
    "plan_id": "plan-1",
    "objective": "Write a quarterly report",
    "status": "created",
    "steps": [STEP],
    "created_at": "2026-12-02T06:50:00+00:00",
}


def model_classes() -> list[type[ModelMapping]]:
    found = [getattr(models, name) for name in models.__all__]
    return [cls for cls in found if inspect.isclass(cls) and issubclass(cls, ModelMapping)]


def test_unset_prints_as_unset() -> None:
    assert repr(UNSET) == "UNSET"
    assert str(UNSET) == "UNSET"
    assert f"{[UNSET]}" == "[UNSET]"
    assert not UNSET
    assert isinstance(UNSET, Unset)


def test_every_model_uses_the_data_repr() -> None:
    classes = model_classes()
    assert len(classes) > 50
    for cls in classes:
        assert cls.__repr__ is ModelMapping.__repr__, cls.__name__
        assert cls._repr_pretty_ is ModelMapping._repr_pretty_, cls.__name__


def test_a_model_prints_its_fields_in_declaration_order() -> None:
    step = models.PlanStep.from_dict(STEP)
    assert repr(step) == (
        "PlanStep(step_id='plan-1.1', index=1, description='Collect the figures', action='collect', "
        "parameters=PlanStepParameters(quarter='Q3'), depends_on=[])"
    )


def test_unset_optional_fields_are_left_out() -> None:
    plan = models.PlanResponse.from_dict(PLAN)
    assert isinstance(plan.context, Unset)
    text = repr(plan)
    assert "context" not in text
    assert "Unset" not in text
    assert "UNSET" not in text
    assert " object at 0x" not in text


def test_enums_print_as_their_value() -> None:
    plan = models.PlanResponse.from_dict(PLAN)
    assert isinstance(plan.status, models.PlanStatus)
    assert "status='created'" in repr(plan)
    assert "PlanStatus" not in repr(plan)


def test_additional_properties_print_as_fields_without_a_wrapper() -> None:
    data = models.StreamEventData.from_dict({"document_id": "doc-1", "pages": 3})
    assert repr(data) == "StreamEventData(document_id='doc-1', pages=3)"
    plan = models.PlanResponse.from_dict({**PLAN, "region": "eu"})
    assert repr(plan).endswith(", region='eu')")
    assert "additional_properties" not in repr(plan)


def test_keys_that_are_not_identifiers_print_in_a_double_star_dict() -> None:
    data = models.StreamEventData.from_dict({"document_id": "doc-1", "x-trace": "t1", "2nd": 2})
    assert repr(data) == "StreamEventData(document_id='doc-1', **{'x-trace': 't1', '2nd': 2})"
    assert pretty(data) == repr(data)


def test_an_empty_model_prints_empty_parentheses() -> None:
    assert repr(models.StreamEventData.from_dict({})) == "StreamEventData()"
    assert pretty(models.StreamEventData.from_dict({})) == "StreamEventData()"


def test_ipython_prints_a_short_model_on_one_line_like_repr() -> None:
    step = models.PlanStepParameters.from_dict({"quarter": "Q3"})
    assert pretty(step) == repr(step) == "PlanStepParameters(quarter='Q3')"


def test_ipython_prints_a_long_model_one_field_per_line() -> None:
    plan = models.PlanResponse.from_dict({**PLAN, "x-trace": "t1"})
    lines = pretty(plan, max_width=60).splitlines()
    assert lines[0] == "PlanResponse("
    assert lines[1] == "    plan_id='plan-1',"
    assert lines[2] == "    objective='Write a quarterly report',"
    assert lines[3] == "    status='created',"
    assert "         step_id='plan-1.1'," in lines  # 4 + the list's bracket + 4
    assert "    **{'x-trace': 't1'}" in lines
    assert lines[-1] == ")"
    assert "Unset" not in "\n".join(lines)


@pytest.mark.parametrize("width", [20, 79, 200])
def test_ipython_output_is_the_repr_apart_from_whitespace(width: int) -> None:
    plan = models.PlanResponse.from_dict({**PLAN, "region": "eu"})
    squeeze = "".join(pretty(plan, max_width=width).split())
    assert squeeze == "".join(repr(plan).split())
