"""Each metric of the evaluation against values worked out by hand (in the comments)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from ls_langchain.evaluation.agreement import HumanAgreement, agreement_statistic
from ls_langchain.evaluation.compare import compare, mcnemar_p
from ls_langchain.evaluation.controls import Evaluation, compared_controls, value_of
from ls_langchain.evaluation.metrics import (
    edit_ratio,
    multi_label_figures,
    scalar_figures,
    single_choice_figures,
    span_counts,
    spans_figures,
    tally_for,
    text_figures,
)

LABELS = ["cat", "dog", "fox"]
_CONFIG = """<View><Text name="t" value="$t"/>
<Choices name="animal" toName="t"><Choice value="cat"/><Choice value="dog"/><Choice value="fox"/></Choices>
<Rating name="stars" toName="t" maxRating="5"/></View>"""
ANIMAL, STARS = compared_controls(_CONFIG)


def test_single_choice() -> None:
    # people: cat cat dog dog fox fox; model: cat dog dog dog fox cat -> right 4 of 6.
    truth, predicted = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]
    figures = single_choice_figures(truth, predicted, LABELS)
    assert figures["accuracy"] == round(4 / 6, 4)
    # po 4/6; pe = (2/6)(2/6) [cat] + (2/6)(3/6) [dog] + (2/6)(1/6) [fox] = 12/36 -> (2/3 - 1/3) / (2/3) = 0.5
    assert figures["kappa"] == 0.5
    # cat: P 1/2 R 1/2; dog: P 2/3 R 1 F1 0.8; fox: P 1 R 1/2 F1 2/3
    assert figures["per_label"]["dog"] == {"precision": round(2 / 3, 4), "recall": 1.0, "f1": 0.8, "support": 2}
    assert figures["per_label"]["fox"] == {"precision": 1.0, "recall": 0.5, "f1": round(2 / 3, 4), "support": 2}
    assert figures["macro_f1"] == round((0.5 + 0.8 + 2 / 3) / 3, 4)
    assert figures["confusion"]["matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_single_choice_kappa_undefined_is_none() -> None:
    figures = single_choice_figures([0, 0], [0, 0], LABELS)
    assert (figures["accuracy"], figures["kappa"]) == (1.0, None)
    assert figures["per_label"]["fox"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_multi_label() -> None:
    # rows: people {cat}, {cat, dog}, {fox}; model {cat}, {dog}, {dog, fox}
    truth = csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]]))
    predicted = csr_matrix(np.array([[1, 0, 0], [0, 1, 0], [0, 1, 1]]))
    figures = multi_label_figures(truth, predicted, LABELS)
    assert figures["exact_match"] == round(1 / 3, 4)
    assert figures["mean_jaccard"] == round((1 + 1 / 2 + 1 / 2) / 3, 4)
    # micro: tp 3 (cat, dog, fox), fp 1 (dog in row 3), fn 1 (cat in row 2): P = R = 3/4
    assert figures["micro_f1"] == 0.75
    # cat P 1 R 1/2 F1 2/3; dog P 1/2 R 1 F1 2/3; fox P 1 R 1 F1 1
    assert figures["macro_f1"] == round((2 / 3 + 2 / 3 + 1) / 3, 4)
    assert figures["per_label"]["cat"] == {"precision": 1.0, "recall": 0.5, "f1": round(2 / 3, 4), "support": 2}


def test_scalar() -> None:
    figures = scalar_figures(np.array([1.0, 3.0, 5.0, 2.0]), np.array([1.0, 4.0, 2.0, 2.5]))
    # errors 0, 1, 3, 0.5
    assert figures == {"mae": 1.125, "exact": 0.25, "within_1": 0.75, "mean_truth": 2.75, "mean_predicted": 2.375}


def test_spans() -> None:
    truth = frozenset({("PER", 0, 3), ("LOC", 10, 15)})
    predicted = frozenset({("PER", 0, 3), ("LOC", 12, 20), ("PER", 30, 33)})
    # exact: 1; predicted 3; people's 2; overlapping: PER 0-3 and LOC 12-20 -> 2 predicted, 2 of people's
    assert span_counts(truth, predicted) == (1, 3, 2, 2, 2)
    assert span_counts(truth, frozenset({("PER", 10, 15)})) == (0, 1, 2, 0, 0)  # another label never overlaps
    figures = spans_figures(np.array([[1, 3, 2, 2, 2], [1, 1, 2, 1, 1]]))
    # exact: tp 2, predicted 4, people's 4 -> 0.5; overlap: 3 of 4 predicted, 3 of 4 people's -> 0.75
    assert figures["exact"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert figures["overlap"] == {"precision": 0.75, "recall": 0.75, "f1": 0.75}
    assert (figures["spans_predicted"], figures["spans_truth"]) == (4, 4)


def test_text() -> None:
    assert edit_ratio("abcd", "abcd") == 0.0
    assert edit_ratio("abXY", "abcd") == 0.5  # 2 matching of 8 characters: similarity 0.5
    assert text_figures(np.array([0.0, 0.5, 0.0, 0.25])) == {"accepted_unchanged": 0.5, "mean_edit_ratio": 0.1875}


def test_abstentions_are_apart_from_wrong_answers() -> None:
    tally = tally_for(ANIMAL)
    tally.add(1, "cat", "cat")
    tally.add(2, "dog", None)  # left empty: abstained, not wrong
    tally.add(3, "dog", "cat")
    figures = tally.figures()
    assert (figures["tasks"], figures["answered"], figures["abstained"], figures["coverage"]) == (
        3,
        2,
        1,
        round(2 / 3, 4),
    )
    assert figures["accuracy"] == 0.5


def test_a_label_outside_the_config_is_listed_after_its_labels() -> None:
    tally = tally_for(ANIMAL)
    tally.add(1, "cat", "owl")
    assert tally.figures()["labels"] == [*LABELS, "owl"]


def test_human_agreement_kappa_for_two_alpha_for_more() -> None:
    # Two raters, units (cat, cat), (cat, dog), (dog, dog): po 2/3; first: cat 2/3 dog 1/3; second: cat 1/3 dog 2/3
    # pe = 2/9 + 2/9 = 4/9 -> kappa (2/3 - 4/9) / (5/9) = 0.4
    assert agreement_statistic([[0, 0], [0, 1], [1, 1]], level="nominal") == ("cohen_kappa", 0.4)
    # Krippendorff's nominal alpha on (cat, cat, cat) and (cat, dog):
    statistic, value = agreement_statistic([[0, 0, 0], [0, 1]], level="nominal")
    assert statistic == "krippendorff_alpha"
    # o matrix: unit 1 (m=3): o_cc = 3*2/2 = 3; unit 2 (m=2): o_cd = o_dc = 1/1 = 1. n = 5, n_c = 4, n_d = 1.
    # D_o = (o_cd + o_dc)/n = 2/5; D_e = (n_c n_d + n_d n_c)/(n (n-1)) = 8/20 = 2/5 -> alpha = 0.
    assert value == 0.0


def test_human_agreement_tally() -> None:
    human = HumanAgreement(ANIMAL)
    human.add(["cat", "cat"])
    human.add(["cat"])  # one answer: nothing to agree with
    human.add(["cat", "dog", "dog"])  # 3 pairs, 1 agreeing
    figures = human.figures()
    assert figures is not None
    assert (figures["tasks"], figures["pairs"], figures["agreement"]) == (2, 4, 0.5)
    assert figures["statistic"] == "krippendorff_alpha"


def test_mcnemar_exact() -> None:
    # 0 of 6 discordant pairs for A: two-sided binomial p = 2 * (1/2)^6
    assert mcnemar_p(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_p(0, 0) == 1.0


def test_comparison_says_which_is_better() -> None:
    control = ANIMAL
    a, b = tally_for(control), tally_for(control)
    for task in range(40):
        a.add(task, "cat", "cat" if task < 20 else "dog")  # right on half
        b.add(task, "cat", "cat")  # right on all
    found = compare("v1", a, "v2", b)
    assert (found["a_value"], found["b_value"], found["difference"], found["tasks"]) == (0.5, 1.0, 0.5, 40)
    assert found["mcnemar"] == {"only_a_right": 0, "only_b_right": 20, "p_value": round(2 / 2**20, 4)}
    assert found["better"] == "v2"
    assert found["verdict"].startswith("v2 is better (higher accuracy)")
    low, high = found["ci95"]
    assert 0 < low <= 0.5 <= high <= 1


def test_comparison_lower_is_better_for_errors() -> None:
    control = STARS
    a, b = tally_for(control), tally_for(control)
    for task in range(30):
        a.add(task, 3.0, 1.0)  # error 2
        b.add(task, 3.0, 3.0 if task % 2 else 4.0)  # error 0 or 1
    found = compare("v1", a, "v2", b)
    assert (found["a_value"], found["b_value"], found["difference"]) == (2.0, 0.5, -1.5)
    assert found["better"] == "v2"
    assert found["ci95"][1] < 0


CONFIG = """<View><Text name="t" value="$t"/>
<Choices name="one" toName="t"><Choice value="x"/><Choice value="y"/></Choices>
<Choices name="many" toName="t" choice="multiple"><Choice value="x"/><Choice value="y"/></Choices>
<Taxonomy name="tree" toName="t" leafsOnly="true" pathSeparator=": "><Choice value="A"><Choice value="A1"/></Choice>
<Choice value="B"/></Taxonomy>
<Number name="n" toName="t"/><Labels name="ner" toName="t"><Label value="P"/></Labels>
<TextArea name="answer" toName="t"/><Ranker name="rank" toName="t"/></View>"""


def test_controls_and_values() -> None:
    controls = {c.name: c for c in compared_controls(CONFIG)}
    assert {n: c.family for n, c in controls.items()} == {
        "one": Evaluation.SINGLE_CHOICE,
        "many": Evaluation.MULTI_LABEL,
        "tree": Evaluation.MULTI_LABEL,
        "n": Evaluation.SCALAR,
        "ner": Evaluation.SPANS,
        "answer": Evaluation.TEXT,
    }
    assert controls["tree"].labels == ("A: A1", "B")  # leaves only, with the config's separator
    result = [
        {"from_name": "tree", "value": {"taxonomy": [["A", "A1"], ["B"]]}},
        {"from_name": "ner", "value": {"start": 0, "end": 2, "labels": ["P"]}},
        {"from_name": "ner", "value": {"start": 5, "end": 7, "labels": ["P"]}},
        {"from_name": "answer", "value": {"text": ["line 1", "line 2"]}},
        {"from_name": "n", "value": {"number": 3}},
    ]
    assert value_of(result, controls["tree"]) == frozenset({"A: A1", "B"})
    assert value_of(result, controls["ner"]) == frozenset({("P", 0, 2), ("P", 5, 7)})
    assert value_of(result, controls["answer"]) == "line 1\nline 2"
    assert value_of(result, controls["n"]) == 3.0
    assert value_of(result, controls["one"]) is None
    assert value_of(result, controls["many"]) is None
