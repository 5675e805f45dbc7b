// AT edges (session-tree intentions → products), a count-store look-up; see link_count_intentions.
MATCH ()-[e:AT]->()
RETURN count(e) AS n
