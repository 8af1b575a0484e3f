"""MLflow pyfunc wrapper: a saved nlp_lstm pipeline served as raw text in, predictions out."""

from __future__ import annotations

import mlflow.models
import mlflow.pyfunc


class PipelinePyfunc(mlflow.pyfunc.PythonModel):
    """Loads the pipeline directory logged as the `pipeline` artifact; `predict` takes a `text` column."""

    def load_context(self, context) -> None:
        import nlp_lstm

        self.pipeline = nlp_lstm.load(context.artifacts["pipeline"])

    def predict(self, context, model_input, params=None):  # noqa: D401 (MLflow's signature)
        import pandas as pd

        if isinstance(model_input, pd.DataFrame):
            texts = model_input["text" if "text" in model_input else model_input.columns[0]].tolist()
        else:
            texts = list(model_input)
        return pd.json_normalize(self.pipeline.predict(texts))


# Logged as "models from code": MLflow runs this file to get the model object.
mlflow.models.set_model(PipelinePyfunc())
