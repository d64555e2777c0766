"""Between steps 5 and 6: the promotion ``gate`` (its checks and the reviewer's decision) and the
``registry`` of champion models per ticker."""
