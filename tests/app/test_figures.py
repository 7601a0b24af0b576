"""Which questions ask for a figure, a date or a number, and which texts give one."""

from __future__ import annotations

import pytest

from app.figures import (
    answers_figure,
    asks_for_figure,
    counted_thing,
    counts,
    names_counted,
    numbers_in,
    other_counts,
)

ASK_FOR_A_FIGURE = [
    # employees' questions
    "How big is the referral bonus?",
    "How many weeks of fully paid leave does the partner get?",
    "How many of the staff must vote for it?",
    "How soon do I need to report a suspected security incident?",
    "How often are salaries reviewed?",
    "How far in advance must I request leave?",
    "What's the phone extension for IT?",
    "What's the salary range for band E3 in Berlin?",
    "What's my annual learning budget?",
    "What availability target does a Tier 2 service have?",
    "What's the maximum number of remote days?",
    "What is the price of the gym membership?",
    "What size of monitor can I order?",
    "What number do I call for travel assistance?",
    "Up to what amount can a department head approve a purchase?",
    "What's the most I can claim for dinner?",
    "When does the year-end deployment freeze begin?",
    "By when do I submit expenses?",
    "I'm in Berlin. By when do I have to use the carried-over days?",
    "Can I carry over leave? Until when?",
    "The bonus was paid when?",
    # encyclopedic questions
    "What year did the Ming dynasty end?",
    "In what year was Harvard founded?",
    "At what age did British Gas force their workers to retire?",
    "What was the population of Warsaw in 1939?",
    "When was the Ming dynasty in power?",
    "Since when has Warsaw been the capital?",
    "How old is the universe?",
]
ASK_FOR_NO_FIGURE = [
    # a listed noun that is not the head of the phrase, or part of a name
    "What's the time zone of the Lisbon office?",
    "Which day-care providers do we partner with?",
    "What is the phone policy?",
    "What's the salary review process?",
    "What's the date format we use in invoices?",
    "What is the email address of payroll?",
    "What's the amount of detail required in an expense report?",
    "What is a time signature?",
    "What was the Gettysburg Address?",
    "What is the Planck time?",
    "What is the International Date Line?",
    "What is the rate-limiting step of glycolysis?",
    "What is the most important rule for customer data?",
    "What's the least you can do when you find a bug?",
    "How much of the travel policy applies to contractors?",
    "How much detail should a ticket include?",
    # a "when" that sets a condition, or sits inside the question
    "When should I use the VPN?",
    "When can I work from home?",
    "When is a doctor's note required?",
    "When I travel, who approves?",
    "When I travel who approves my expenses?",
    "When travelling abroad, do I need approval?",
    "When B cells and T cells begin to replicate, what do their offspring become?",
    "What is formed when a phagosome fuses with a lysosome?",
    "Who do I call when the VPN is down?",
    # no figure at all
    "Who is our data protection officer?",
    "Which is the largest meeting room in Paris?",
]


@pytest.mark.parametrize("question", ASK_FOR_A_FIGURE)
def test_a_question_that_asks_for_a_figure(question: str) -> None:
    assert asks_for_figure(question)


@pytest.mark.parametrize("question", ASK_FOR_NO_FIGURE)
def test_a_question_that_asks_for_no_figure(question: str) -> None:
    assert not asks_for_figure(question)


@pytest.mark.parametrize(
    ("text", "gives"),
    [
        ("1,500 EUR gross for each referred person.", True),
        ("Kindling runs in two cycles a year, starting in March and September.", True),
        ("The meeting opens on Monday.", True),
        ("Reports go out monthly.", True),
        ("May I bring a guest?", False),  # a verb, not a month
        ("If you refer several people, you get a bonus for each hire.", False),
        ("Meeting rooms in Paris are named after French rivers.", False),
    ],
)
def test_a_sentence_that_gives_a_figure(text: str, gives: bool) -> None:
    # a quote's candidate sentence, judged with nothing asked (app.quote prefers such ones)
    assert answers_figure(text, "", moments=False) is gives


@pytest.mark.parametrize(
    ("question", "answer", "answers"),
    [
        ("What's the phone extension for IT?", "It is 4357.", True),
        ("What's the phone extension for IT?", "IT answers around the clock.", False),
        ("When does the freeze begin?", "It begins in December.", True),
        ("When does the freeze begin?", "The freeze protects the on-call team.", False),
        ("How often are elections held?", "Every four years.", True),
        ("How often is the report sent?", "Twice a year.", True),
        ("How soon must I report it?", "Within one week.", True),
        ("From when is a sick note needed?", "From the fourth calendar day.", True),
        ("How much does the eye test cost?", "It is free.", True),
        ("When do the rules apply?", "As soon as they enter into force.", True),
        ("When do the rules apply?", "The rules apply to everyone.", False),
        # a figure the question already holds answers nothing, nor does a passage's number
        ("What's the salary range for band E3?", "The range for band E3 is competitive.", False),
        ("What's the salary range for band E3?", "The range for band E3 is 55,000 EUR.", True),
        (
            "What's the address of the office?",
            "According to passage 2, it is near the river.",
            False,
        ),
        ("In which months do the cycles begin?", "In the first month of the cycle.", False),
        # a count is not a date
        ("How many blankets were delivered?", "A fake memo was sent on January 23, 2023.", False),
        ("How many blankets were delivered?", "The memo of 2 March 2023 lists 10,000.", True),
        ("How much did the lease cost in 2024?", "It was signed in 2019.", False),
        ("How many days of leave do I get?", "From 1 January, 27 days.", True),
        ("When did the convoy leave?", "On January 23, 2023.", True),
    ],
)
def test_an_answer_that_gives_the_figure_asked_for(
    question: str, answer: str, answers: bool
) -> None:
    assert answers_figure(answer, question) is answers


@pytest.mark.parametrize(
    ("question", "counted"),
    [
        ("How many laptops were delivered on January 23, 2023?", "laptop"),
        ("How many common shares did Galaxy Gaming have outstanding?", "shar"),
        ("How many Patriot batteries will the United States send?", "battery"),
        ("How many new jobs did Reliance create?", "job"),
        ("How many women need to be treated to prevent one case?", "women"),  # no -s plural
        ("How many women-led teams are there?", None),
        # a unit is given in the source's own: "27 working days" for "how many hours of leave"
        ("How many hours of annual leave do Paris employees get per year?", None),
        ("For how many working days a year am I allowed to work abroad?", None),
        # where in doubt, none: a count may come without its word, or the words are no noun
        ("How many people clicked the link?", None),
        ("How many times may I carry over leave?", None),
        ("How many work from home?", None),
        ("How many of the staff must vote for it?", None),
        ("How much is the bonus?", None),
    ],
)
def test_what_a_how_many_question_counts(question, counted):
    assert counted_thing(question) == counted


def test_a_text_names_the_counted_thing_in_any_form():
    assert names_counted("There were 200 Laptops delivered.", "laptop")
    assert names_counted("Each laptop is replaced every 4 years.", "laptop")
    assert not names_counted("A total of 3 trucks were used for 15 hours.", "laptop")


@pytest.mark.parametrize(
    ("answer", "counted", "other"),
    [
        ("A total of 3 trucks were used for 15 hours.", "laptop", True),
        ("There were 200 laptops.", "laptop", False),
        # positive evidence only: these may well be the count asked for (a review's cases)
        ("Acme has 1,200 people.", "employ", False),
        ("Each of us gets 50 GB.", "gigabyt", False),
        ("We hold 40 Figma licences.", "licens", False),
        ("The team has 12 full-time employees.", "fte", False),
        ("Two managers must sign off.", "manager", False),
        ("It is refunded up to 400 euros in 2 weeks.", "bicycl", False),
        # a word after the number that is no plural noun, or a number that names (a review's)
        ("We hired 40 this year.", "employ", False),
        ("Building 2 provides 30 desks.", "desk", False),
        ("Room 4 seats 10.", "chair", False),
        ("There were 12 COVID-19 cases.", "death", False),
        ("In 2023 3 offices opened.", "employ", True),
    ],
)
def test_a_count_of_something_else_needs_the_number_and_another_plural(answer, counted, other):
    assert bool(other_counts(answer, counted)) is other


def test_a_sources_number_counts_something_else_only_if_the_answer_gave_it():
    memo = "There were 10,000 blankets and 200 laptops delivered."
    assert other_counts(memo, "tent", numbers_in("The answer is 200.")) == ["laptops"]
    assert not other_counts(memo, "tent", numbers_in("The answer is 12."))
    assert numbers_in("1,500 EUR or 3 days, not 1.5") == {"1,500", "3", "1.5"}


def test_spelling_and_compounds_still_name_the_counted_thing():
    assert names_counted("a three-bedroom apartment", "bedroom")
    assert names_counted("40 Figma licences", "licens")


@pytest.mark.parametrize(
    ("text", "counted", "counting"),
    [
        ("On average 63 women would need to be treated.", "women", True),
        ("Of these, 17 (11.0%) patients relapsed.", "patient", True),
        ("The floor grows from 92 to 140 open desks.", "desk", True),
        ("A total of 3 trucks were used.", "laptop", False),
        ("In 2020 the laptops were replaced.", "laptop", False),  # the year counts no laptops
        ("The laptops arrived on day 3.", "laptop", False),
        ("The 200 laptops arrived.", "laptop", True),
        # a number that names, a time, an amount (a review's cases)
        ("Room 12 laptops are kept in the cupboard.", "laptop", False),
        ("At 3 pm laptops are collected.", "laptop", False),
        ("The 500 EUR laptops are standard.", "laptop", False),
    ],
)
def test_a_number_that_counts_the_thing(text, counted, counting):
    assert counts(text, counted) is counting


@pytest.mark.parametrize(
    ("answer", "answers"),
    [
        ("Obesity was found in 2.7% of the women.", True),
        ("About 12 per cent were obese.", True),
        ("Nine percent of them were obese.", True),
        ("Half of them were obese.", True),
        # a figure, but not a share: a p-value quote answered "what percentage" (a review)
        ("The difference was not significant (P = 0.452).", False),
        ("Of 96 women, most were obese.", False),
    ],
)
def test_what_percentage_wants_a_share(answer, answers):
    question = "What percentage of Korean women were obese by the fat mass index?"
    assert answers_figure(answer, question) is answers
