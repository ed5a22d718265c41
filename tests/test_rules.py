"""labkit.rules: the one table of rules, and every text that names them made from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import labkit.rules
from labkit.chain import CHECKS, Outcome, judge
from labkit.rules import QUESTIONS, RULES, rules_table

ROOT = Path(__file__).resolve().parent.parent


def test_names_are_unique_and_in_table_order():
    assert len(set(CHECKS)) == len(CHECKS) == len(RULES)
    assert CHECKS[0] == "record" and CHECKS[-2:] == ("ancestry", "contract")
    assert "author" in CHECKS and CHECKS.index("author") > CHECKS.index("payload")


def test_the_module_docstring_table_is_the_generated_one():
    doc = labkit.rules.__doc__
    table = doc.split(".. rules-table\n\n", 1)[1].split("\n\n.. end-rules-table", 1)[0]
    assert table == rules_table()


def test_every_rule_asks_one_question():
    for rule in RULES:
        assert rule.question.endswith("?") and "\n" not in rule.question
        assert QUESTIONS[rule.name] == rule.question


def test_notebook_04_shows_the_table_from_the_library():
    # The notebook displays the table made by the library rather than a copy typed into a cell.
    notebook = json.loads((ROOT / "notebooks" / "04-the-chain.ipynb").read_text("utf-8"))
    text = "".join("".join(cell["source"]) for cell in notebook["cells"])
    assert "rules_frame()" in text
    for name in CHECKS:  # no markdown table that retypes a rule's question
        for cell in notebook["cells"]:
            if cell["cell_type"] == "markdown":
                assert QUESTIONS[name] not in "".join(cell["source"])


def test_a_verdict_has_one_outcome_per_rule_in_order(net1, small_blocks):
    verdict = judge(small_blocks[0], net1, None)
    assert [o.rule for o in verdict.outcomes] == list(CHECKS)
    assert all(o.outcome is Outcome.PASSED for o in verdict.outcomes)
    refused = judge("not a record", net1, None)
    assert refused.rule == "record"
    assert [o.outcome for o in refused.outcomes[1:]] == [Outcome.NOT_ASKED] * (len(CHECKS) - 1)


def test_error_text_names_the_rule(net1, small_blocks):
    verdict = judge(small_blocks[1], net1, None)  # block 1 offered as the first block
    assert verdict.rule == "index"
    assert re.fullmatch(r"block 0: index: .+", str(verdict.error))
