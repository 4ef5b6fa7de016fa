"""English forename nicknames and spelling variants, mapped to one canonical form for linkage.

One partner records "Bill", another "William": mapping both to WILLIAM lets a forename match
key agree. Keys and values are in :func:`ptp_pipeline.privacy.names.normalise_name` form
(upper case ASCII, no spaces). No value is itself a key, so mapping twice changes nothing.

Left out on purpose:
- short forms now given as names in their own right, where mapping would merge many distinct
  people (JACK, HARRY, LIAM, MOLLY, ELLIE, MILLIE, ELSIE, LISA, TESSA);
- forms shared by a male and a female name (ALEX, SAM, CHRIS, JO, PAT, TERRI, NICKY, FRANKIE,
  JESSIE, MEL, KIM, LES, SANDY, DANI, TONI, GERRY, JERRY, LOU), except where one reading
  dominates in English records (CHRIS -> CHRISTOPHER, ALEX -> ALEXANDER, SAM -> SAMUEL), noted
  below. A wrong mapping only costs a looser key: other parts (surname, date of birth) still
  have to agree.
"""

from __future__ import annotations

from typing import Final

_CANONICAL_TO_NICKNAMES: dict[str, tuple[str, ...]] = {
    # Male names.
    "ALBERT": ("BERTIE",),
    "ALEXANDER": ("ALEX", "ALEC"),  # ALEX: mostly ALEXANDER in English records
    "ALFRED": ("ALF", "ALFIE"),
    "ANDREW": ("ANDY", "DREW"),
    "ANTHONY": ("TONY", "ANT", "ANTONY"),
    "ARTHUR": ("ART", "ARTIE"),
    "BENJAMIN": ("BEN", "BENNY", "BENJI", "BENJY"),
    "BERNARD": ("BERNIE",),
    "CHARLES": ("CHARLIE", "CHARLEY", "CHAS", "CHUCK"),
    "CHRISTOPHER": ("CHRIS", "KRIS"),  # CHRIS: mostly CHRISTOPHER
    "DANIEL": ("DAN", "DANNY"),
    "DAVID": ("DAVE", "DAVY", "DAVIE"),
    "DOMINIC": ("DOM", "DOMINICK"),
    "DONALD": ("DON", "DONNIE"),
    "DOUGLAS": ("DOUG", "DOUGIE"),
    "EDWARD": ("ED", "EDDIE", "EDDY", "TED", "TEDDY", "NED"),
    "EUGENE": ("GENE",),
    "FREDERICK": ("FRED", "FREDDIE", "FREDDY", "FREDRICK", "FREDERIC"),
    "GARETH": ("GAZ",),
    "GEOFFREY": ("GEOFF", "JEFF", "JEFFREY", "JEFFERY"),
    "GREGORY": ("GREG", "GREGG"),
    "HENRY": ("HAL",),
    "JAMES": ("JIM", "JIMMY", "JIMMIE", "JAMIE"),
    "JOHN": ("JOHNNY", "JOHNNIE", "JON"),
    "JONATHAN": ("JONNY", "JONNIE", "JONATHON"),
    "JOSEPH": ("JOE", "JOEY"),
    "JOSHUA": ("JOSH",),
    "KENNETH": ("KEN", "KENNY"),
    "LAWRENCE": ("LARRY", "LAURENCE"),
    "LEONARD": ("LEN", "LENNY", "LENNIE"),
    "MATTHEW": ("MATT", "MATTY", "MAT", "MATHEW"),
    "MICHAEL": ("MIKE", "MIKEY", "MICK", "MICKY", "MICKEY"),
    # Spellings of one Arabic name, the commonest boy's name registered in England and Wales.
    "MUHAMMAD": ("MOHAMMED", "MOHAMMAD", "MOHAMED", "MOHAMAD", "MUHAMMED", "MUHAMAD", "MOHAMMUD"),
    "NATHANIEL": ("NAT", "NATE"),
    "NICHOLAS": ("NICK", "NICOLAS", "NIKOLAS"),
    "OLIVER": ("OLLIE", "OLLY"),
    "PATRICK": ("PADDY",),
    "PETER": ("PETE",),
    "PHILIP": ("PHIL", "PHILLIP"),
    "RAYMOND": ("RAY",),
    "RICHARD": ("RICH", "RICHIE", "RICK", "RICKY", "DICK", "DICKIE"),
    "ROBERT": ("BOB", "BOBBY", "ROB", "ROBBIE", "ROBBY", "RAB"),
    "RONALD": ("RON", "RONNIE"),
    "RUSSELL": ("RUSS",),
    "SAMUEL": ("SAM", "SAMMY"),  # SAM: mostly SAMUEL
    "STANLEY": ("STAN",),
    "STEPHEN": ("STEVE", "STEVIE", "STEVEN"),
    "TERENCE": ("TERRY", "TEL"),
    "THOMAS": ("TOM", "TOMMY", "TOMMIE"),
    "TIMOTHY": ("TIM", "TIMMY"),
    "VINCENT": ("VINCE", "VINNIE", "VINNY"),
    "WALTER": ("WALT", "WALLY"),
    "WILLIAM": ("BILL", "BILLY", "WILL", "WILLIE", "WILLY"),
    "ZACHARY": ("ZACH", "ZACK", "ZAK"),
    # Female names.
    "ABIGAIL": ("ABBY", "ABBIE", "ABI"),
    "AMANDA": ("MANDY",),
    "ANNE": ("ANN", "ANNIE"),
    "BARBARA": ("BARB", "BABS"),
    "BEVERLEY": ("BEV", "BEVERLY"),
    "CAROL": ("CAROLE",),
    "CHARLOTTE": ("LOTTIE",),
    "CHRISTINE": ("CHRISSIE", "CHRISSY"),
    "CONSTANCE": ("CONNIE",),
    "CYNTHIA": ("CINDY",),
    "DEBORAH": ("DEB", "DEBBIE", "DEBBY", "DEBRA"),
    "DOROTHY": ("DOT", "DOTTIE", "DOLLY"),
    "ELEANOR": ("NELL", "NELLIE", "ELINOR", "ELEANORE"),
    "ELIZABETH": ("LIZ", "LIZZIE", "LIZZY", "LIZA", "BETH", "BETTY", "BETTIE", "BESS", "BESSIE",
                  "ELIZA", "LIBBY", "ELISABETH"),
    "GILLIAN": ("GILL", "GILLY"),
    "HARRIET": ("HATTIE",),
    "JACQUELINE": ("JACKIE", "JACKY"),
    "JENNIFER": ("JEN", "JENNY", "JENNI"),
    "JESSICA": ("JESS",),
    "JOSEPHINE": ("JOSIE",),
    "JUDITH": ("JUDY",),
    "KATHERINE": ("KATE", "KATIE", "KATY", "KATHY", "KATHIE", "KAT", "KATH", "CATE", "CATH", "CATHY",
                  "CATHERINE", "CATHARINE", "CATHRYN", "KATHARINE", "KATHRYN", "KATHRINE"),
    "MARGARET": ("PEGGY", "PEG", "MAGGIE", "MAGS", "MEG", "MARGE", "MARGIE", "MADGE"),
    "MATILDA": ("TILLY", "TILLIE"),
    "PAMELA": ("PAM",),
    "PATRICIA": ("PATSY", "PATTY", "TRISH", "TRICIA"),
    "PHILIPPA": ("PIPPA",),
    "REBECCA": ("BECKY", "BECCA", "BEX"),
    "STEPHANIE": ("STEPH", "STEFFI"),
    "SUSAN": ("SUE", "SUSIE", "SUZIE", "SUZY"),
    "THERESA": ("TERESA", "TESS"),
    "TRACY": ("TRACEY",),
    "VALERIE": ("VAL",),
    "VICTORIA": ("VICKY", "VICKI", "VIKKI", "TORI"),
    "WINIFRED": ("WINNIE",),
}  # fmt: skip

#: Nickname or variant spelling -> canonical forename.
NICKNAMES: Final[dict[str, str]] = {
    nickname: canonical for canonical, nicknames in _CANONICAL_TO_NICKNAMES.items() for nickname in nicknames
}
