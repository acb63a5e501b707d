"""One job, from a composed config to rows: identity (key, hash), validation, building the module and
its inputs, the device, the environment, and the pipeline that runs every probe stage."""
