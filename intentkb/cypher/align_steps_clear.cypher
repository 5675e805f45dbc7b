// Drop the ALIGNED edges of steps that a new alignment no longer links.  rows: {step, targets: [intention ids]}
UNWIND $rows AS r
MATCH (s:Step {id: r.step})-[a:ALIGNED]->(i:Intention)
WHERE NOT i.id IN r.targets
DELETE a
