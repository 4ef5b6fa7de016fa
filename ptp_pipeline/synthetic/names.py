"""Embedded name, nickname and postcode lists for the synthetic population.

Names come in groups (British/Irish, South Asian, East European, African, East Asian) so a
person's forename and surname fit together. Within a group, lists run in rough order of
frequency for people born 1950-2005 in England (ONS baby-name tables, commonest surnames of
England and Wales), so Zipf-like weights by list position give a realistic mix: many Smiths
and Jameses, a long tail of rarer names. They deliberately
include what breaks naive matching: apostrophes (O'Brien), hyphens (Smith-Jones), Mac/Mc,
diacritics (Łukasz) and a few names in non-Latin scripts. No real person is described.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


def _words(text: str) -> tuple[str, ...]:
    """Whitespace-separated names; keeps the lists compact and easy to review."""
    return tuple(text.split())


@dataclass(frozen=True)
class NameGroup:
    """Names that go together: a person's forenames and surname come from one group."""

    share: float  # of the synthetic population
    male: tuple[str, ...]
    female: tuple[str, ...]
    surnames: tuple[str, ...]


# Shares loosely follow Leeds' population by ethnic group (Census 2021), simplified.
NAME_GROUPS: dict[str, NameGroup] = {
    "british_irish": NameGroup(
        0.82,
        _words("""
        James John David Michael Paul Andrew Mark Richard Robert Peter Stephen Christopher Daniel
        Matthew Thomas William Anthony Steven Gary Ian Kevin Martin Simon Neil Lee Darren Jason Craig
        Wayne Scott Dean Carl Shaun Stuart Adam Ryan Jamie Liam Luke Nathan Jack Joshua Benjamin
        Samuel Joseph Alexander Jonathan Nicholas Timothy Philip Graham Keith Brian Alan Colin Kenneth
        Raymond Terence Barry Gordon Derek Trevor Malcolm Roger Dennis Leslie Frederick Edward George
        Henry Charles Albert Arthur Harry Frank Patrick Sean Kieran Connor Callum Declan Aaron Bradley
        Jordan Kyle Ashley Gavin Glen Justin Marcus Russell Spencer Gerald Leonard Lawrence Gregory
        Vincent Douglas Ronald Donald Harold Jeffrey Graeme Robin Nigel Clive Howard Duncan Alistair
        Hamish Rhys Gareth Owain Dylan Ewan Fraser Reece Tyler Kai Mason Ethan Oliver Noah Leon
        Dominic Joel Elliot Toby Max Charlie Alfie Archie Seamus Padraig Ciarán René
        """),
        _words("""
        Susan Margaret Elizabeth Sarah Claire Emma Nicola Lisa Karen Julie Michelle Tracey Joanne
        Helen Rachel Amanda Deborah Jennifer Patricia Linda Christine Jacqueline Angela Carol Sandra
        Barbara Dorothy Jean Mary Ann Anne Janet Pauline Gillian Wendy Alison Louise Rebecca Laura
        Hannah Jessica Amy Lauren Charlotte Sophie Chloe Danielle Gemma Stacey Kelly Leanne Donna Dawn
        Kerry Natalie Samantha Victoria Katherine Catherine Kathleen Hayley Zoe Kirsty Jade Katie
        Lucy Emily Megan Bethany Abigail Georgia Holly Amber Paige Ellie Shannon Jodie Charlene Toni
        Kimberley Sharon Tina Lorraine Debbie Denise Diane Maureen Brenda Sheila Valerie Shirley Joan
        Irene Doreen Eileen Marion Rita Pamela Heather Elaine Yvonne Beverley Marie Theresa Bernadette
        Siobhan Niamh Aoife Roisin Caitlin Eilidh Morag Fiona Rhiannon Bronwen Cerys Sian Alexandra
        Frances Harriet Olivia Grace Isabel Ruth Esther Naomi Miriam Chelsea Courtney Jasmine Molly
        Poppy Leah Tanya Sonia Rosemary Jill Lesley Mandy Vicky Renée
        """),
        _words("""
        Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson
        Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Jackson Wood Turner Martin
        Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips
        Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey
        Collins Bell Shaw Murphy Miller Cox Richards Marshall Anderson Simpson Ellis Adams Wilkinson
        Foster Chapman Powell Webb Rogers Gray Mason Hunt Campbell Matthews Owen Palmer Holmes Mills
        Barnes Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey Graham
        Pearson Fletcher Walsh Gibson Howard Andrews Stewart Elliott Reynolds Saunders Payne Fox Ford
        Pearce Day Brooks West Lawrence Cole Atkinson Bradley Spencer Gill Dawson Ball Burton Ashworth
        Sutcliffe Hirst Hargreaves Holroyd Ackroyd Barraclough Greenwood Firth Haigh Crowther Whiteley
        Lockwood Doherty Quinn Byrne Gallagher Brennan Kavanagh Reid Robertson Thomson Henderson Ross
        Hamilton Boyle O'Brien O'Neill O'Connor O'Sullivan O'Reilly McDonald MacDonald McLean MacLeod
        McCarthy McKenzie D'Arcy Smith-Jones Taylor-Wood Hughes-Davies Brooke-Smith
        """),
    ),
    "south_asian": NameGroup(
        0.09,
        _words("""
        Mohammed Muhammad Ahmed Ali Imran Asif Tariq Sajid Zahid Amir Hassan Bilal Omar Yusuf Kamran
        Faisal Adnan Shahid Naveed Zubair Rajesh Sanjay Arjun Vikram Anil Ravi Gurpreet Harjit
        Sukhdev Jaswinder محمد
        """),
        _words("""
        Fatima Aisha Ayesha Samina Nasreen Shazia Parveen Rubina Saima Nadia Sadia Zainab Priya
        Sunita Anita Kiran Manjit Harpreet Amandeep Jaspreet فاطمة
        """),
        _words("""
        Khan Hussain Ahmed Ali Iqbal Mahmood Rahman Akhtar Bibi Begum Shah Bashir Aslam Rashid Patel
        Sharma Kumar Mistry Chauhan Singh Kaur Sandhu Ahmed-Khan D'Souza حسين
        """),
    ),
    "east_european": NameGroup(
        0.05,
        _words("""
        Piotr Tomasz Krzysztof Łukasz Marek Paweł Andrzej Dariusz Ion Florin Mihai Bogdan Ciprian
        Vytautas Jānis Олександр
        """),
        _words("Agnieszka Katarzyna Małgorzata Anna Joanna Magdalena Ewa Żaneta Ioana Elena Oksana Мария"),
        _words("""
        Nowak Kowalski Wiśniewski Wójcik Lewandowski Zieliński Kazlauskas Popescu Ionescu Kovalenko
        Bērziņš Иванов
        """),
    ),
    "african": NameGroup(
        0.03,
        _words("Kwame Kofi Tunde Emeka Chidi Olumide Abdi Abdirahman Yaw Samuel Joseph Emmanuel"),
        _words("Ngozi Chioma Abena Adwoa Amina Blessing Grace Hodan Faith Comfort"),
        _words("Okafor Adeyemi Okonkwo Mensah Boateng Osei Asante Mohamed Abdi Farah Warsame Eze"),
    ),
    "east_asian": NameGroup(
        0.01,
        _words("Wei Jun Hao Minh Tuan Kevin"),
        _words("Mei Lin Xin Thi Linh Ying"),
        _words("Wang Zhang Chen Li Liu Nguyen Tran 王"),
    ),
}

MALE_FORENAMES: tuple[str, ...] = tuple(dict.fromkeys(n for g in NAME_GROUPS.values() for n in g.male))
FEMALE_FORENAMES: tuple[str, ...] = tuple(dict.fromkeys(n for g in NAME_GROUPS.values() for n in g.female))
SURNAMES: tuple[str, ...] = tuple(dict.fromkeys(n for g in NAME_GROUPS.values() for n in g.surnames))

# Formal name -> nicknames a person may give (or an officer may write) instead.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "William": ("Bill", "Will", "Billy"),
    "Margaret": ("Peggy", "Maggie", "Meg"),
    "James": ("Jim", "Jimmy"),
    "Robert": ("Bob", "Rob", "Bobby"),
    "Elizabeth": ("Liz", "Beth", "Lizzie"),
    "Katherine": ("Kate", "Kathy"),
    "Catherine": ("Cathy", "Kate"),
    "Michael": ("Mike", "Mick"),
    "David": ("Dave", "Davy"),
    "Anthony": ("Tony", "Ant"),
    "Susan": ("Sue", "Susie"),
    "Richard": ("Rick", "Dick", "Rich"),
    "Thomas": ("Tom", "Tommy"),
    "Christopher": ("Chris",),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Andrew": ("Andy", "Drew"),
    "Stephen": ("Steve",),
    "Steven": ("Steve",),
    "Edward": ("Ed", "Ted", "Eddie"),
    "Joseph": ("Joe", "Joey"),
    "Samuel": ("Sam",),
    "Benjamin": ("Ben",),
    "Alexander": ("Alex",),
    "Jonathan": ("Jon", "Jonny"),
    "Nicholas": ("Nick",),
    "Timothy": ("Tim",),
    "Philip": ("Phil",),
    "Kenneth": ("Ken", "Kenny"),
    "Raymond": ("Ray",),
    "Terence": ("Terry",),
    "Frederick": ("Fred",),
    "Patrick": ("Pat", "Paddy"),
    "Jennifer": ("Jen", "Jenny"),
    "Patricia": ("Pat", "Trish"),
    "Deborah": ("Debbie", "Deb"),
    "Rebecca": ("Becky", "Becca"),
    "Samantha": ("Sam", "Sammy"),
    "Victoria": ("Vicky", "Tori"),
    "Jacqueline": ("Jackie",),
    "Christine": ("Chris", "Chrissie"),
    "Joanne": ("Jo",),
    "Amanda": ("Mandy",),
    "Nicola": ("Nicky",),
    "Gillian": ("Gill",),
    "Dorothy": ("Dot",),
    "Barbara": ("Barb",),
    "Alexandra": ("Alex", "Sandra"),
    "Charlotte": ("Charlie", "Lottie"),
    "Jessica": ("Jess",),
    "Pamela": ("Pam",),
    "Kimberley": ("Kim",),
    "Gerald": ("Gerry",),
    "Leonard": ("Len", "Lenny"),
    "Lawrence": ("Larry", "Laurie"),
    "Gregory": ("Greg",),
    "Vincent": ("Vince",),
    "Douglas": ("Doug",),
    "Ronald": ("Ron", "Ronnie"),
    "Donald": ("Don",),
    "Harold": ("Harry",),
    "Henry": ("Harry", "Hal"),
    "Mohammed": ("Mo",),
    "Muhammad": ("Mo",),
    "Kathleen": ("Kath", "Kathy"),
    "Valerie": ("Val",),
    "Beverley": ("Bev",),
    "Bernadette": ("Bernie",),
    "Frances": ("Fran",),
    "Abigail": ("Abbie", "Abby"),
    "Jeffrey": ("Jeff",),
    "Gareth": ("Gaz",),
    "Joshua": ("Josh",),
}

# Leeds (LS) postal districts with rough weights: inner-city and estate districts,
# where most of this cohort lives, weigh more than the suburbs and commuter towns.
POSTCODE_DISTRICTS: tuple[tuple[str, float], ...] = (
    ("LS1", 2.0),
    ("LS2", 2.0),
    ("LS3", 1.5),
    ("LS4", 2.0),
    ("LS5", 1.5),
    ("LS6", 3.0),
    ("LS7", 4.0),
    ("LS8", 4.0),
    ("LS9", 5.0),
    ("LS10", 4.0),
    ("LS11", 4.5),
    ("LS12", 4.0),
    ("LS13", 3.0),
    ("LS14", 4.0),
    ("LS15", 2.5),
    ("LS16", 1.0),
    ("LS17", 1.0),
    ("LS18", 0.7),
    ("LS19", 0.8),
    ("LS20", 0.5),
    ("LS21", 0.5),
    ("LS22", 0.6),
    ("LS23", 0.3),
    ("LS24", 0.4),
    ("LS25", 1.2),
    ("LS26", 1.5),
    ("LS27", 2.0),
    ("LS28", 2.0),
    ("LS29", 0.6),
)

# Letters allowed in the last two characters of a UK postcode (never C, I, K, M, O or V).
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


# Agencies' systems mostly hold a Latin transliteration; a name kept in its own script is rare.
NON_LATIN_WEIGHT = 0.1


def name_weights(names: tuple[str, ...], exponent: float = 0.9, offset: float = 8.0) -> NDArray[np.float64]:
    """Probabilities falling with list position (common names first), non-Latin scripts rarer."""
    raw: NDArray[np.float64] = 1.0 / (np.arange(len(names), dtype=np.float64) + offset) ** exponent
    non_latin = np.array([any(ord(c) >= 0x250 for c in name) for name in names], dtype=bool)
    raw[non_latin] *= NON_LATIN_WEIGHT
    out: NDArray[np.float64] = raw / raw.sum()
    return out
