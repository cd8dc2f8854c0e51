"""The chat style (issue 22, item 1): natural-language prompts, the tagged final answer and
steps read from free text. The extraction table: free-text completions (right, wrong,
malformed, hostile, several tags, huge numbers) with the verdict each must get; no crash,
no false accept."""

from __future__ import annotations

import pytest

from sparring.tasks import ABSTAIN_TEXT, Problem, get_task
from sparring.tasks.freetext import MAX_FREE_STEPS, free_steps, last_answer

CD = get_task("countdown")
P = CD.check_problem(Problem("countdown", "", {"numbers": [4, 11, 17], "target": 10}))
NONE = CD.check_problem(Problem("countdown", "", {"numbers": [1, 1, 2], "target": 97}, solvable=False))
GOLD = "17 - 11 = 6\n6 + 4 = 10\n<answer>17-11+4</answer>"

# (completion, correct, answer_correct, steps valid, well formed)
TABLE = [
    # right
    (GOLD, True, True, True, True),
    ("<answer>(17-11)+4</answer>", True, True, False, True),  # right, no readable steps: not valid
    ("<answer>4 + 17 − 11</answer>", True, True, False, True),  # unicode minus
    ("<answer>17-11+4 = 10</answer>", True, True, False, True),  # the value claimed, rightly
    ("<answer>17 - 11 + 4.</answer>", True, True, False, True),  # a final period
    ("Let me think. 17 minus 11 is 6, and 6 plus 4 makes 10.\n<answer>4+(17-11)</answer>", True, True, True, True),
    ("First 17 – 11 = 6. Then 6 × 1... no: 6 + 4 = 10. <answer> 17 - 11 + 4 </answer>", True, True, True, True),
    ("- 17 - 11 = 6\n- 6 + 4 = 10\n\n**Answer:** <answer>(17 - 11) + 4</answer>", True, True, True, True),
    ("<answer>4*11</answer> wait, that is 44. <answer>17-11+4</answer>", True, True, False, True),  # the last tag
    ("17 - 11 = 7\n7 + 4 = 11\n<answer>17-11+4</answer>", True, True, False, True),  # right answer, wrong steps
    ("<answer><answer>17-11+4</answer></answer>", True, True, False, True),  # the inner tag is the tag
    ("<answer>017-11+4</answer>", True, True, False, True),  # a leading zero is the same number
    # wrong
    ("<answer>4*11-17</answer>", False, False, False, True),  # 27
    ("<answer>17+11-4</answer>", False, False, False, True),  # 24
    ("<answer>10</answer>", False, True, False, True),  # the target, no numbers used
    ("<answer>11-4+4-1</answer>", False, True, False, True),  # 10, but 4 twice and a 1 not given
    ("<answer>17-11</answer>", False, False, False, True),  # a number left out
    ("<answer>4-11+17</answer>", False, False, False, True),  # a negative intermediate result
    ("<answer>17/4+11</answer>", False, False, False, True),  # inexact division
    ("<answer>17/(11-11)+4</answer>", False, False, False, True),  # a zero divisor
    ("<answer>17-11+4 = 12</answer>", False, True, False, True),  # the claimed value is wrong
    ("17 - 11 = 6\n6 + 4 = 10\n<answer>17+11+4</answer>", False, False, True, True),  # valid steps, wrong answer
    ("<answer>17-11+4</answer> no wait <answer>4*11</answer>", False, False, False, True),  # the last tag counts
    (f"<answer>{ABSTAIN_TEXT}</answer>", False, False, False, True),  # abstaining on a solvable problem
    # malformed
    ("17-11+4=10", False, False, False, False),  # no tag: a char-style line that is no step
    ("<answer></answer>", False, False, False, False),
    ("<answer>17-11+4", False, False, False, False),  # unclosed
    ("<ANSWER>17-11+4</ANSWER>", False, False, False, False),  # tags are case-sensitive
    ("<answer>the answer is 17-11+4</answer>", False, False, False, False),
    ("<answer>(17-11+4</answer>", False, False, False, False),  # unbalanced
    ("<answer>__import__('os').system('ls')</answer>", False, False, False, False),  # never evaluated
    ("<answer>2x5</answer>", False, False, False, False),
    ("<answer>１７-11+4</answer>", False, False, False, False),  # fullwidth digits
    ("<answer>17-11+4=ten</answer>", False, False, False, False),
    ("<answer>17-11+4=10=10</answer>", False, False, False, False),
    # hostile
    ("<answer>99999999999999999999*2</answer>", False, False, False, False),  # too many digits
    ("<answer>" + "(" * 40 + "17-11+4" + ")" * 40 + "</answer>", False, False, False, False),  # too deep / long
    ("<answer>" + "1+" * 80 + "1</answer>", False, False, False, False),  # over the tag's 120 characters
    ("<answer>17-11+4</answer>" * 3000, False, False, False, False),  # over the completion bound
    ("17 - 11 = 6\n" * 200 + "<answer>17-11+4</answer>", True, True, False, True),  # 64 steps read, mostly invalid
]


@pytest.mark.parametrize("text, correct, answer_correct, valid, well_formed", TABLE)
def test_the_extraction_table(text, correct, answer_correct, valid, well_formed):
    v = CD.verify(P, text)
    assert (v.correct, v.answer_correct, v.steps_valid, v.well_formed) == (
        correct,
        answer_correct,
        valid,
        well_formed,
    ), v.reason
    assert v.score == (1.0 if correct else 0.0)
    assert correct == (v.first_error is None)


def test_the_table_is_big_enough_and_abstention_is_right_on_an_unsolvable_problem():
    assert len(TABLE) >= 30
    assert CD.verify(NONE, f"Nothing works.\n<answer>{ABSTAIN_TEXT}</answer>").correct
    assert not CD.verify(NONE, "<answer>1+1+2</answer>").correct
    for bad in (None, b"<answer>17-11+4</answer>", 17, "\x00<answer>17-11+4</answer>"):
        assert CD.verify(P, bad).score == 0.0


def test_gold_chat_completions_score_one_and_the_prompts_ask_for_the_tag():
    for p in CD.problems("test", 40) + CD.problems("ood-n", 10):
        gold = CD.gold_completion(p, "chat")
        v = CD.verify(p, gold)
        assert v.correct and v.steps_valid, (gold, v.reason)
        for k in range(len(CD.chat_templates)):
            text = CD.prompt(p, k, "chat")
            assert "<answer>" in text and str(p.data["target"]) in text
    assert CD.verify(NONE, CD.gold_completion(NONE, "chat")).correct
    assert len(CD.chat_templates) >= 3 and CD.styles == ("char", "chat")
    with pytest.raises(ValueError, match="style"):
        get_task("countdown").gold_completion(P, "json")


def test_linear_speaks_the_chat_style_too():
    lin = get_task("linear")
    for p in lin.problems("test", 20):
        assert lin.verify(p, lin.gold_completion(p, "chat")).correct
        assert all("<answer>" in lin.prompt(p, k, "chat") for k in range(len(lin.chat_templates)))


def test_a_planted_flaw_in_the_steps_is_found_in_free_text():
    """The char style's flawed chains, written as chat reasoning: the first error is the
    planted one (the steps are judged as the char lines are)."""
    for p in CD.problems("test", 20):
        for kind in CD.flaw_kinds():
            try:
                text, got_kind, first = CD.flaw(p, seed=1, kind=kind)
            except ValueError:
                continue
            chat = text.replace("\n", ", then ") + "\n<answer>17</answer>"
            v = CD.verify(p, chat)
            assert not v.correct and v.first_error == first, (kind, chat, v.reason)


def test_steps_are_read_from_prose_by_the_written_grammar():
    assert [s for _, s in free_steps("7 × 3 = 21; 21 divided by 7 equals 3; 7 times 3 is 21")] == [
        (7, "*", 3, 21),
        (21, "/", 7, 3),
        (7, "*", 3, 21),
    ]
    for not_a_step in ("7*3+9=30", "3.5*2=7", "-7*3=-21", "21 = 7*3", "2,100+3=2103", "7 times 3 plus 9 is 30"):
        assert free_steps(not_a_step) == [], not_a_step
    assert len(free_steps("1+1=2 " * 1000)) == MAX_FREE_STEPS
    assert last_answer("<answer>1</answer><answer> 2 </answer>", 10) == "2"
    assert last_answer("<answer>12345678901</answer>", 10) is None


def test_arith_speaks_the_chat_style_and_its_steps_are_judged_from_prose():
    ar = get_task("arith")
    probs = ar.problems("test", 30) + ar.problems("ood-long", 10)
    for p in probs:
        assert ar.verify(p, ar.gold_completion(p, "chat")).correct, ar.gold_completion(p, "chat")
        assert all("<answer>" in ar.prompt(p, k, "chat") for k in range(len(ar.chat_templates)))
    p = ar.check_problem(Problem("arith", "", {"expr": "3+4*5"}))
    right = "First 4 times 5 is 20, then 3 + 20 = 23.\n<answer>23</answer>"
    assert (lambda v: (v.correct, v.steps_valid))(ar.verify(p, right)) == (True, True)
    order = ar.verify(p, "3 + 4 = 7, 7 * 5 = 35\n<answer>23</answer>")  # right value, wrong order
    assert order.correct and not order.steps_valid and order.steps[0].reason.startswith("no sub-expression")
    wrong = ar.verify(p, "4*5=20\n3+20=23\n<answer>35</answer>")
    assert not wrong.correct and wrong.first_error == 2  # valid steps, wrong value
    for bad in ("<answer>-23</answer>", "<answer>23.5</answer>", "<answer>twenty-three</answer>", "<answer>23"):
        assert ar.verify(p, bad).score == 0.0 and not ar.verify(p, bad).well_formed
    for p in ar.problems("test", 20):
        for kind in ar.flaw_kinds():
            try:
                text, _, first = ar.flaw(p, seed=2, kind=kind)
            except ValueError:
                continue
            wrong_value = int(ar.gold_answer(p)) + 1  # the answer decides correct; the steps the first error
            v = ar.verify(p, text.replace("\n", "; next, ") + f"\n<answer>{wrong_value}</answer>")
            assert not v.correct and v.first_error == first, (kind, text, v.reason)
