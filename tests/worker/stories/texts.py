"""Small synthetic news texts (written for these tests; all names and places are invented).

Pairs that report ONE event in different words, events of the same KIND that are different,
and unrelated filler that gives the IDF something to learn from.
"""

from __future__ import annotations

# --- one event: the Port Ellery bridge collapse, reported by two outlets ----------------------
BRIDGE_WIRE_TITLE = "Bridge collapses in Port Ellery, two drivers missing"
BRIDGE_WIRE = """PORT ELLERY (Wire) - A section of the Halvard Street Bridge collapsed into the
Tamsin River early Tuesday, sending at least three cars into the water and leaving two drivers
missing, Mayor Odile Brennan said.

Divers from the Port Ellery fire department pulled one driver from the river shortly after the
collapse. The search for the other two continued through the morning, hampered by strong
currents and debris from the steel span, which was built in 1958.

Brennan said inspectors had flagged corrosion on the Halvard Street Bridge last spring and that
repairs had been scheduled for the summer. "We will find out what went wrong, and we will tell
the families everything we learn," she told reporters at the riverbank.

The state transportation agency closed two nearby crossings as a precaution and sent engineers to
examine them. Traffic across the Tamsin River was diverted to the northern ring road, and
officials warned commuters to expect long delays for weeks.

Governor Lionel Achterberg ordered flags lowered and promised state money for the rescue. The
cause of the collapse was not immediately known."""

BRIDGE_LOCAL_TITLE = "Halvard Street span falls into Tamsin River; rescuers search for missing"
BRIDGE_LOCAL = """Rescue crews spent Tuesday searching the Tamsin River for two people still missing
after the Halvard Street Bridge gave way before dawn in Port Ellery.

Witnesses described a loud crack and then the roadway folding into the water. Mayor Odile
Brennan confirmed that one driver had been rescued by fire department divers and taken to
Ellery General Hospital in stable condition.

The 1958 steel bridge had been listed for corrosion repairs, according to inspection reports
seen by this newspaper. Brennan promised a full investigation and said the city would share its
findings with the families of the missing.

Governor Lionel Achterberg said the state would pay for the search. Engineers were checking two
other crossings over the Tamsin, which remain closed, and drivers were sent to the northern ring
road."""

# --- same kind of event, different place and people ------------------------------------------
OTHER_BRIDGE_TITLE = "Footbridge collapse in Varnholm injures hikers"
OTHER_BRIDGE = """VARNHOLM (Wire) - A wooden footbridge over the Kessel Gorge collapsed on Saturday
afternoon in Varnholm, injuring five hikers, park ranger Mathis Olufsen said.

The hikers fell about four meters onto rocks and shallow water. Mountain rescue teams from Grelsby
carried them out on stretchers, and a helicopter flew one woman with a broken leg to the regional
hospital in Dunmere.

The footbridge, built in 2004, had been inspected in the autumn, Olufsen said. The park closed all
trails around the gorge while engineers from the forestry office examine the remaining wooden
crossings. Varnholm's council called an emergency meeting for Monday."""

# --- same names, same kind of event, another night: what differs is the numbers ------------
FIGHT_A_TITLE = "Venn stops Hollt in the sixth round to keep his heavyweight belts"
FIGHT_A = """Dario Venn kept his heavyweight titles on Saturday night, stopping challenger Kasimir
Hollt in the 6th round in front of 14,500 fans at the Marlow Arena.

Venn, 36, dropped Hollt with a right hand midway through the round and the referee waved the
fight off at 2:38. It was the champion's 58th win and his 51st knockout.

Hollt, 40, had promised to take the belts home. "He was the better man tonight," Hollt said.
Venn said he wanted a unification bout next and thanked the crowd at the Marlow Arena."""

FIGHT_B_TITLE = "Champion Venn knocks out Hollt at 2:38 of the sixth"
FIGHT_B = """Heavyweight champion Dario Venn needed six rounds to get rid of Kasimir Hollt on
Saturday, ending the bout at 2:38 of the 6th with a right hand that left the 40-year-old
challenger unable to continue.

The 36-year-old Venn improved to 58 wins with 51 knockouts. About 14,500 people watched at the
Marlow Arena. Hollt said the champion was the better man, and Venn called for a unification
fight."""

# The rematch, years later: the same two fighters (the challenger only by surname here),
# another result, other ages, records and scores.
REMATCH_TITLE = "Venn outpoints Hollt over 12 rounds in 2019 rematch"
REMATCH = """Venn went the distance for the first time in five years, outpointing
his challenger 117-111, 116-112 and 118-110 in their 2019 rematch.

Venn, 41, scored a knockdown in the 9th but Hollt, 45, got up and lasted to the final bell. An
audience of 9,200 saw the 64th victory of his career. Hollt announced that he would retire.

The judges' cards were read out after a long wait, and the promoter said a 65th bout was
planned for 2020."""

# --- a leaders' visit (the seed-pair shape), and a same-day war event that is NOT the visit ---
VISIT_A_TITLE = "Kovalen hosts a rare visit by Marhov in Dravsk"
VISIT_A = """TALLIN BAY - Under pressure from his larger neighbour to do more for its war against
Esteria, President Anton Kovalen of Lusovia hosts a rare visit by President Grigor Marhov in
Dravsk, the Lusovian capital, on Monday.

Kovalen, Marhov's closest ally, relies on Vostrana for fuel, loans and security guarantees. The
two men have met several times this year, but always in Vostrana. Kovalen said the talks in
Dravsk would focus on the price of gas, but he conceded that military questions would come up.

Analysts said Marhov might seek Lusovian troops or territory for a new offensive against Esteria,
which Kovalen has so far resisted. Esterian officials warned of a possible attack from the north.
"""

VISIT_B_TITLE = "Marhov in Lusovia, eyes next steps in Esteria war"
VISIT_B = """DRAVSK (Wire) - President Grigor Marhov of Vostrana made a rare trip to Dravsk on
Monday, meeting Lusovian President Anton Kovalen as his forces kept up their campaign against
Esteria.

Marhov said he and Kovalen discussed a common defence space and the training of Lusovian air
crews, and he thanked Kovalen for letting Vostranan troops use Lusovian ranges. Kovalen said they
had also agreed on the price of gas for next year.

It was Marhov's first visit to Dravsk in three years; Kovalen usually travels to Vostrana. Esteria
has warned that Vostrana could open a new front from Lusovian territory."""

STRIKE_TITLE = "Drone strikes knock out power in Esterian port of Sallow"
STRIKE = """SALLOW (Wire) - Vostranan drones hit two power stations in the Esterian port of Sallow
overnight into Monday, cutting electricity and heating to about 200,000 homes, the regional
governor Petra Imrenko said.

Air defence units shot down 18 of 23 drones, the Esterian air force said. Repair crews restored
power to hospitals by the afternoon, but Imrenko warned of rolling blackouts for several days.
Esterian President Dalia Voss called on allies to send more air defence systems before winter."""

# --- unrelated filler -----------------------------------------------------------------------
FILLER = [
    (
        "City council approves new library budget",
        """The Greyhaven city council voted seven to two on Wednesday to approve a new budget for
the public library, adding evening hours and a mobile book van for the eastern districts. The
library director, Ines Fairbairn, said the van would start in the spring. Opponents argued that
the money should go to road repairs instead.""",
    ),
    (
        "Local bakery wins national bread award",
        """A family bakery in Olmsford has won the national sourdough prize for the second year
running. Owner Basil Merriweather said the secret was patience and a starter older than his
children. The award comes with a trip to a baking fair in the capital and a small cash prize.""",
    ),
    (
        "Rovers beat Albion in late thriller",
        """Kestrel Rovers beat Albion Town three goals to two on Saturday, with striker Femi
Adeyinka scoring twice in the final ten minutes. The win lifts Rovers to fourth place in the
league. Albion's manager said his team had paid for a lapse in concentration.""",
    ),
    (
        "Tech firm Quillon unveils folding tablet",
        """Quillon, the software and hardware maker, unveiled a folding tablet at its annual
developer conference on Thursday. The device opens to a twelve inch screen and goes on sale in
the autumn. Analysts said the price would decide whether it sells beyond early adopters.""",
    ),
    (
        "Heat wave expected to break this weekend",
        """Forecasters said the heat wave that has gripped the southern plains for ten days should
break this weekend, when thunderstorms move in from the west. Temperatures reached forty degrees
in several towns. Health officials urged people to check on elderly neighbours.""",
    ),
    (
        "Museum returns carved masks to island community",
        """The Northern Museum of Culture returned eleven carved masks to the community of Tevara
island on Friday, ending a decade of talks. Elders received the masks in a ceremony at the
harbour. The museum said it was reviewing other objects in its collection.""",
    ),
]
