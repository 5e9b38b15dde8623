"""Explanation methods: permutation importance (Inglis et al.), regression
direction, and (later) complex-step / autograd saliency and attributions."""
