// EXPLAINS edges (co-buy and purchase intentions → products), a count-store look-up; see link_count_intentions.
MATCH ()-[e:EXPLAINS]->()
RETURN count(e) AS n
