"""Training and evaluation, apart from serving: router and generator training, corpus building,
`shopbot eval`, the lifecycle's gate, replay and gold set, and the model jobs the admin API
runs in a child process. Nothing that serves imports this package."""
