// What a change to retrieval's intention → product links changes: intentions and EXPLAINS / AT
// edges, each a count-store look-up (the link table beside the index is checked against them).
MATCH (i:Intention)
WITH count(i) AS intentions
OPTIONAL MATCH ()-[e:EXPLAINS]->()
WITH intentions, count(e) AS explains
OPTIONAL MATCH ()-[a:AT]->()
RETURN intentions, explains, count(a) AS at
