"""The facial-expression model's lifecycle: data (FER+), recipes, training, evaluation, export, prediction."""
