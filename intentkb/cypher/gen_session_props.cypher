// rows: {id, props}: properties of sessions (a finished tree's schedule, model and prompts).
UNWIND $rows AS r
MATCH (s:Session {id: r.id})
SET s += r.props
