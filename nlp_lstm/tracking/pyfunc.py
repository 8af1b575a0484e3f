"""MLflow pyfunc wrapper: a saved nlp_lstm pipeline served as raw text in, exactly `pipeline.predict`'s answers out.

Logged as "models from code": MLflow runs this file to get the model object. Inputs are one column of texts:
a list, a Series, an array, or a DataFrame's `text` column (MLflow's signature enforcement passes the first
column of a DataFrame, so put the texts first); the prediction options of the
task (`beam_size`, `return_attention`, `batch_size`; a language model's `max_tokens`, `temperature`, `top_k`,
`top_p` and `seed`) are MLflow params, declared with their defaults in the signature. The answer is one JSON
value per input: a dict (sentiment), a list of entities (NER), a string (translation; a language model's
continuation of the prompt).
"""

from __future__ import annotations

from typing import Any

import mlflow.models
import mlflow.pyfunc
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import BAD_REQUEST


def input_texts(model_input: Any) -> list[str]:
    """The texts of a pyfunc input. Through MLflow (which enforces the signature) it is a one-column DataFrame;
    called directly, a DataFrame's `text` column (or its only column), a list or a Series."""
    import pandas as pd

    if isinstance(model_input, pd.DataFrame):
        if "text" in model_input.columns:
            values = model_input["text"]
        elif len(model_input.columns) == 1:
            values = model_input.iloc[:, 0]
        else:
            raise MlflowException(
                f"expected a 'text' column, got columns {list(model_input.columns)}", error_code=BAD_REQUEST
            )
        values = values.tolist()
    elif isinstance(model_input, str):
        values = [model_input]
    else:
        values = list(model_input)
    bad = next((i for i, value in enumerate(values) if not isinstance(value, str)), None)
    if bad is not None:
        value = values[bad]
        what = "missing (null)" if value is None or value != value else f"a {type(value).__name__}"
        raise MlflowException(f"input {bad} is {what}, not a text", error_code=BAD_REQUEST)
    return values


class PipelinePyfunc(mlflow.pyfunc.PythonModel):
    """Loads the pipeline directory logged as the `pipeline` artifact."""

    # MLflow wraps a PythonModel's `predict` for validation by its type hints when the class is defined, and
    # without hints asks for them in a coloured warning at every import; the logged signature describes this
    # model instead (without hints MLflow's wrapper only passes the call through).
    _skip_type_hint_validation = True

    def load_context(self, context) -> None:
        from nlp_lstm.tasks import load_folder

        self.pipeline = load_folder(context.artifacts["pipeline"])

    # No type hints: the logged signature (a string column, the task's params and outputs) describes the model.
    def predict(self, context, model_input, params=None) -> list[Any]:
        from nlp_lstm.errors import UsageError

        try:
            options = self.pipeline.checked_options(params)
            return self.pipeline.predict(input_texts(model_input), **options)
        except UsageError as exc:  # an option out of range (e.g. a negative temperature): the request's fault
            raise MlflowException(f"{exc}", error_code=BAD_REQUEST) from None


mlflow.models.set_model(PipelinePyfunc())
