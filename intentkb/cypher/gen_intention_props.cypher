// rows: {id, props}: properties of intentions (the role-aware filter's verdict and reason).
UNWIND $rows AS r
MATCH (i:Intention {id: r.id})
SET i += r.props
