"""MLflow pyfunc wrapper: a saved nlp_lstm pipeline served as raw text in, predictions out."""

from __future__ import annotations

import mlflow.models
import mlflow.pyfunc
import pandas as pd


class PipelinePyfunc(mlflow.pyfunc.PythonModel):
    """Loads the pipeline directory logged as the `pipeline` artifact; `predict` takes a `text` column."""

    def load_context(self, context) -> None:
        import nlp_lstm

        self.pipeline = nlp_lstm.load(context.artifacts["pipeline"])

    # A DataFrame hint tells MLflow to infer nothing from it: the logged model's signature (a `text`
    # column) already describes the input.
    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        if isinstance(model_input, pd.DataFrame):
            texts = model_input["text" if "text" in model_input else model_input.columns[0]].tolist()
        else:
            texts = list(model_input)
        predictions = self.pipeline.predict(texts)
        if all(isinstance(p, dict) for p in predictions):
            return pd.json_normalize(predictions)
        return pd.DataFrame({"prediction": predictions})  # e.g. a list of entities per text


# Logged as "models from code": MLflow runs this file to get the model object.
mlflow.models.set_model(PipelinePyfunc())
