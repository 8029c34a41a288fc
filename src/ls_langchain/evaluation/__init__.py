"""How good are the predictions: a project's predictions against people's answers, per model version and control,
people's agreement with each other beside them, and two versions compared with a confidence interval."""

from ls_langchain.evaluation.controls import Evaluation
from ls_langchain.evaluation.project import Comparison, EvaluationReport, ModelFigures, evaluate_project
from ls_langchain.evaluation.truth import TRUTHS, Truth

__all__ = ["TRUTHS", "Comparison", "Evaluation", "EvaluationReport", "ModelFigures", "Truth", "evaluate_project"]
