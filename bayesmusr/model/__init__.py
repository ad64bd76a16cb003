"""model layer: parameter declarations, priors, forward models, likelihoods and posterior problems.

Arrays in, log densities out: every posterior here is a stateless function of a parameter
vector, ready for the inference layer.  The simulator draws data from the same forward models.
"""
