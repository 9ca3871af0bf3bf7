"""The jobs rnnkit trains, each a `rnnkit.train.task.Task` registered in
`rnnkit.models.registry`."""
