"""Inference without Keras: a trained tagger's weights as NumPy arrays and its forward pass and Viterbi
decoding in NumPy (`tagger.py`), so that a process that only predicts need not import a deep-learning
framework (importing Keras on TensorFlow alone takes 5-6 s on a 2-core CPU). Plain NumPy: nothing here
imports Keras; `nlp_lstm.models.export` writes the arrays from a Keras model.
"""
