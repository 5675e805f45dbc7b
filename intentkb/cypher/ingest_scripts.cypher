// rows: {id, props, steps: [{id, idx, text, prev}]}: a script, its ordered steps and NEXT links.
UNWIND $rows AS r
WITH r, r.id AS k
MERGE (c:Script {id: k})
SET c += r.props
WITH c, r
UNWIND r.steps AS st
WITH c, st, st.id AS sk
MERGE (s:Step {id: sk})
SET s.idx = st.idx, s.text = st.text
MERGE (c)-[:HAS_STEP]->(s)
WITH s, st
OPTIONAL MATCH (p:Step {id: st.prev})
FOREACH (_ IN CASE WHEN p IS NULL THEN [] ELSE [1] END | MERGE (p)-[:NEXT]->(s))
